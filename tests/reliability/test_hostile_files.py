"""Small hostile files that used to take gigabytes or crash with a stray exception: each now fails with one
line naming the file, before anything large is allocated (checked in a subprocess under an address-space
limit of 1 GiB above what its imports use), and a file that is not a checkpoint is called that."""

from __future__ import annotations

import gzip
import json
import os
import pickle
import random
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.errors import GankitError

WORKER = Path(__file__).with_name("hostile_worker.py")
GROWTH_LIMIT = 2**30  # peak resident size above what the worker's imports (torch, ...) already use


# --------------------------------------------------------------------------------- the hostile files
def _zeros_member() -> bytes:
    return gzip.compress(bytes(64 * 2**20), compresslevel=9)  # 64 MiB of zeros in ~64 KB


def _idx_bomb(root: Path, dims: tuple[int, ...], inflated: int, member: bytes) -> Path:
    """A gzipped IDX file whose header declares ``dims`` and whose members inflate to ``inflated`` bytes
    (a gzip file may hold many members; readers concatenate them)."""
    root.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0803) + struct.pack(">3I", *dims)
    path = root / "train-images-idx3-ubyte.gz"
    with path.open("wb") as fh:
        fh.write(gzip.compress(header))
        for _ in range(inflated // (64 * 2**20)):
            fh.write(member)
    labels = struct.pack(">I", 0x0801) + struct.pack(">I", 10) + bytes(10)
    (root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    return path


def _nested_labels_batch(path: Path) -> Path:
    """31 KB: ten images whose labels are ten references to one 10,000 × 10,000 list of lists (10⁹ ints)."""
    row = [0] * 10_000
    block = [row] * 10_000  # pickled once: the rest are memo references
    batch = {b"data": np.zeros((10, 3072), dtype=np.uint8), b"labels": [block] * 10}
    path.write_bytes(pickle.dumps(batch, protocol=2))
    return path


def _huge_shape_batch(path: Path) -> Path:
    """numpy's ``_reconstruct(ndarray, (2**36,), b'b')``: allocates the shape it is given (64 GiB)."""
    path.write_bytes(b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
                     b"\x8a\x05\x00\x00\x00\x00\x10\x85" + b"U\x01b\x87R.")
    return path


def _huge_png(path: Path, side: int) -> Path:
    """A grey ``side``² PNG of zeros, written row by row (the image is never held in memory)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    comp = zlib.compressobj(9)
    row = bytes(side + 1)  # filter byte + pixels
    body = b"".join(comp.compress(row) for _ in range(side)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body) + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def hostile(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("hostile")
    member = _zeros_member()
    files = {
        "idx-trailing": _idx_bomb(root / "trailing", (60_000, 28, 28), 5 * 2**30, member),
        "idx-declared": _idx_bomb(root / "declared", (7_000_000, 28, 28), 5 * 2**30 + 64 * 2**20, member),
        "cifar-nested": _nested_labels_batch(root / "data_batch_1"),
        "cifar-shape": _huge_shape_batch(root / "data_batch_2"),
        "image": _huge_png(root / "eval" / "big.png", 12_000),
    }
    for i in range(3):
        from PIL import Image

        Image.new("RGB", (32, 32), (i, 0, 0)).save(root / "eval" / f"small-{i}.png")
    return files


@pytest.fixture(scope="module")
def outcomes(hostile) -> dict[str, dict]:
    """Every hostile file loaded by one worker process under the address-space limit."""
    runs = [("idx", hostile["idx-trailing"]), ("idx", hostile["idx-declared"]), ("cifar", hostile["cifar-nested"]),
            ("cifar", hostile["cifar-shape"]), ("image", hostile["image"]), ("probe", hostile["image"]),
            ("folders", hostile["image"].parent)]
    args = [str(a) for case, path in runs for a in (case, path)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    result = subprocess.run([sys.executable, str(WORKER), *args], capture_output=True, text=True, timeout=300,
                            env=env)
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert result.returncode == 0 and len(rows) == len(runs), result.stdout + result.stderr[-2000:]
    return {f"{row['case']}:{row['path']}": row for row in rows}


def _assert_fails_by_name(outcomes: dict[str, dict], case: str, path: Path, reason: str) -> None:
    row = outcomes[f"{case}:{path}"]
    assert row["outcome"].startswith(f"ERROR: {path}: "), row["outcome"]
    assert reason in row["outcome"] and "\n" not in row["outcome"], row["outcome"]
    assert row["growth"] < GROWTH_LIMIT, f"resident size grew by {row['growth'] / 2**20:.0f} MiB"


# ----------------------------------------------------------------------------------------------- IDX
def test_idx_inflating_far_past_its_header_fails_by_name(hostile, outcomes):
    path = hostile["idx-trailing"]
    assert path.stat().st_size < 6 * 2**20
    _assert_fails_by_name(outcomes, "idx", path, "more bytes than its header")


def test_idx_header_declaring_gigabytes_fails_before_inflating(hostile, outcomes):
    _assert_fails_by_name(outcomes, "idx", hostile["idx-declared"], "header says (7000000, 28, 28)")


def test_raw_idx_header_larger_than_the_file_fails_before_allocating(tmp_path):
    root = tmp_path / "raw"
    root.mkdir()
    path = root / "train-images-idx3-ubyte"
    path.write_bytes(struct.pack(">I", 0x0803) + struct.pack(">3I", 60_000, 28, 28) + bytes(100))
    with pytest.raises(GankitError, match=r"truncated: header says \(60000, 28, 28\)"):
        from gankit.data.idx import read_idx

        read_idx(path, 3)


def test_mnist_with_zero_images_fails_by_name(tmp_path):
    from gankit.data.idx import load_split

    root = tmp_path / "empty"
    root.mkdir()
    for stem, dims in (("images-idx3-ubyte", (0, 28, 28)), ("labels-idx1-ubyte", (0,))):
        header = struct.pack(">I", 0x0800 | len(dims)) + struct.pack(f">{len(dims)}I", *dims)
        for split in ("train", "t10k"):
            (root / f"{split}-{stem}.gz").write_bytes(gzip.compress(header))
    with pytest.raises(GankitError) as info:
        load_split(root, "train")
    assert str(info.value).startswith(f"{root / 'train-images-idx3-ubyte.gz'}: ")
    assert "no images" in str(info.value) and "\n" not in str(info.value)


# --------------------------------------------------------------------------------------------- CIFAR
def test_cifar_labels_nested_to_a_billion_ints_fail_by_name(hostile, outcomes):
    path = hostile["cifar-nested"]
    assert path.stat().st_size < 100_000
    _assert_fails_by_name(outcomes, "cifar", path, "'labels' must be a list of integers")


def test_cifar_array_claiming_a_huge_shape_is_refused(hostile, outcomes):
    _assert_fails_by_name(outcomes, "cifar", hostile["cifar-shape"], "larger than the file")


# -------------------------------------------------------------------------------------------- images
def test_decompression_bomb_image_fails_by_name(hostile, outcomes):
    assert hostile["image"].stat().st_size < 1_000_000
    _assert_fails_by_name(outcomes, "image", hostile["image"], "decompression-bomb limit")


def test_probing_an_eval_folder_image_enforces_the_bomb_limit(hostile, outcomes):
    _assert_fails_by_name(outcomes, "probe", hostile["image"], "decompression-bomb limit")


def test_eval_folders_with_a_bomb_fail_by_name(hostile, outcomes):
    """`eval --real` used to resize every image to the first real image's size (here 12000²)."""
    row = outcomes[f"folders:{hostile['image'].parent}"]
    assert row["outcome"].startswith(f"ERROR: {hostile['image']}: "), row["outcome"]
    assert "decompression-bomb limit" in row["outcome"] and "\n" not in row["outcome"]
    assert row["growth"] < GROWTH_LIMIT


def test_eval_folders_resize_to_the_common_size_not_the_largest(tmp_path):
    from PIL import Image

    from gankit.data.folder import read_image_folders

    real = [tmp_path / f"r{i}.png" for i in range(4)]
    for i, path in enumerate(real[:3]):
        Image.new("L", (32, 32), 10 * i).save(path)
    Image.new("L", (3000, 2000), 200).save(real[3])  # the largest file comes first in no order that matters
    fake = tmp_path / "f.png"
    Image.new("RGB", (64, 64), (255, 0, 0)).save(fake)
    real_x, fake_x = read_image_folders([real[3], *real[:3]], [fake])
    assert real_x.dtype == fake_x.dtype == torch.uint8
    assert tuple(real_x.shape) == (4, 3, 32, 32) and tuple(fake_x.shape) == (1, 3, 32, 32)
    assert int(real_x[0].float().mean()) == 200 and fake_x[0, 0].min() == 255 and fake_x[0, 1].max() == 0


def test_eval_folders_report_every_unreadable_file(tmp_path):
    from PIL import Image

    from gankit.data.folder import read_image_folders

    good = tmp_path / "good.png"
    Image.new("RGB", (8, 8)).save(good)
    broken = [tmp_path / "a.png", tmp_path / "b.jpg"]
    for path in broken:
        path.write_bytes(b"not an image")
    with pytest.raises(GankitError) as info:
        read_image_folders([good, broken[0]], [broken[1]])
    lines = str(info.value).splitlines()
    assert [line.split(": ")[0] for line in lines] == [str(p) for p in broken]


def test_eval_folder_target_size_ignores_an_outlier():
    from gankit.data.folder import EVAL_MAX_SIDE, folder_target_size

    sizes = [(8000, 8000)] + [(32, 32)] * 5 + [(64, 48)] * 2
    assert folder_target_size(sizes) == (32, 32)
    h, w = folder_target_size([(4000, 3000)] * 3)
    assert max(h, w) == EVAL_MAX_SIDE and abs(h / w - 4 / 3) < 0.01


def test_folder_images_decode_straight_to_the_target_size(tmp_path):
    from PIL import Image

    from gankit.data.folder import probe_image, read_image_uint8

    path = tmp_path / "a.png"
    Image.new("RGB", (300, 200), (255, 0, 0)).save(path)
    header = probe_image(path)
    assert header.size == (200, 300) and not header.grey
    x = read_image_uint8(path, (32, 48), 3)
    assert tuple(x.shape) == (3, 32, 48) and int(x[0].min()) == 255 and int(x[1].max()) == 0


# ---------------------------------------------------------------------------------------- checkpoints
def _not_a_checkpoint(path: Path) -> str:
    from gankit.engine.checkpoint import load_checkpoint

    with pytest.raises(GankitError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: not a gankit checkpoint ("), message
    assert "\n" not in message and "weights_only" not in message and "Re-running" not in message
    return message


def test_symlink_to_a_text_file_is_not_a_checkpoint(tmp_path):
    if not Path("/etc/passwd").is_file():
        pytest.skip("no /etc/passwd on this system")
    link = tmp_path / "step-000000001.pt"
    link.symlink_to("/etc/passwd")
    _not_a_checkpoint(link)


@pytest.mark.parametrize("content", [
    pytest.param(b"hello, this is a text file\n" * 40, id="text"),
    pytest.param(random.Random(0).randbytes(4096), id="random"),
    pytest.param(random.Random(101).randbytes(64), id="random-short"),
    pytest.param(b"\x80\x02e" + bytes(50), id="pickle-ish"),
    pytest.param(b"", id="empty"),
])
def test_junk_is_not_a_checkpoint(tmp_path, content):
    path = tmp_path / "step-000000001.pt"
    path.write_bytes(content)
    _not_a_checkpoint(path)


def test_a_zip_that_torch_did_not_write_is_not_a_checkpoint(tmp_path):
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("readme.txt", "not a model")
    _not_a_checkpoint(path)


def test_a_checkpoint_needing_code_never_suggests_weights_only_false(tmp_path):
    import torch

    from gankit.engine.checkpoint import load_checkpoint

    path = tmp_path / "evil.pt"
    torch.save({"format": "gankit-checkpoint", "x": os.getcwd, "y": [print]}, path)
    with pytest.raises(GankitError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert message.startswith(f"{path}: refused to load"), message
    assert "weights_only" not in message and "Re-running" not in message and "\n" not in message


def test_devices_and_fifos_are_refused_without_hanging(tmp_path):
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    code = ("import sys\nfrom gankit.engine.checkpoint import load_checkpoint\nfrom gankit.errors import GankitError\n"
            "for p in sys.argv[1:]:\n"
            "    try:\n        load_checkpoint(p)\n    except GankitError as e:\n        print(e)\n")
    result = subprocess.run([sys.executable, "-c", code, str(fifo), "/dev/zero"], capture_output=True, text=True,
                            timeout=60, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert result.stdout.splitlines() == [f"{fifo}: not a gankit checkpoint (not a regular file)",
                                          "/dev/zero: not a gankit checkpoint (not a regular file)"], result.stderr


# ------------------------------------------------------------------------- gankit eval --real/--fake
def test_eval_cli_names_a_bomb_in_the_real_folder(cli, hostile, tmp_path):
    """One 12000² PNG among the real images used to make every image resize to 12000²."""
    from PIL import Image

    bomb = hostile["image"]
    (tmp_path / "fake").mkdir()
    Image.new("RGB", (32, 32)).save(tmp_path / "fake" / "0.png")
    result = cli("eval", "--real", bomb.parent, "--fake", tmp_path / "fake", "--metric", "fid")
    assert result.code != 0
    assert result.err.strip().splitlines() == [
        f"error: {bomb}: image is 12000×12000 (144,000,000 pixels), over the decompression-bomb limit of "
        "89,478,485 pixels (PIL.Image.MAX_IMAGE_PIXELS)"]


def test_eval_folders_are_resized_to_the_common_size(tmp_path):
    from PIL import Image

    from gankit.evaluate import load_folders

    (tmp_path / "real").mkdir()
    (tmp_path / "fake").mkdir()
    Image.new("RGB", (3000, 2000)).save(tmp_path / "real" / "0-large.png")  # first in order
    for i in range(3):
        Image.new("RGB", (32, 32)).save(tmp_path / "real" / f"{i + 1}.png")
        Image.new("RGB", (40, 40)).save(tmp_path / "fake" / f"{i}.png")
    real_x, fake_x = load_folders(tmp_path / "real", tmp_path / "fake")
    assert tuple(real_x.shape) == (4, 3, 32, 32) and tuple(fake_x.shape) == (3, 3, 32, 32)
