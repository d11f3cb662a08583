"""Small hostile files that used to take gigabytes or crash with a stray exception: each now fails with one
line naming the file, before anything large is allocated (checked in a subprocess under an address-space
limit of 1 GiB above what its imports use), and a file that is not a checkpoint is called that."""

from __future__ import annotations

import gzip
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

from gankit.errors import GankitError

WORKER = Path(__file__).with_name("hostile_worker.py")
PEAK_LIMIT = int(1.25 * 2**30)  # the imports (torch, numpy, PIL) take a few hundred MB of it


def _run_worker(case: str, path: Path) -> tuple[str, int]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_ARENA_MAX": "2"}
    result = subprocess.run([sys.executable, str(WORKER), case, str(path)], capture_output=True, text=True,
                            timeout=240, env=env)
    lines = result.stdout.strip().splitlines()
    assert result.returncode == 0 and len(lines) == 2, result.stdout + result.stderr[-2000:]
    return lines[0], int(lines[1].split()[1])


def _assert_fails_by_name(case: str, path: Path, reason: str) -> None:
    outcome, peak = _run_worker(case, path)
    assert outcome.startswith(f"ERROR: {path}: "), outcome
    assert reason in outcome, outcome
    assert "\n" not in outcome
    assert peak < PEAK_LIMIT, f"peak RSS {peak / 2**20:.0f} MiB"


# ----------------------------------------------------------------------------------------------- IDX
_ZEROS_MEMBER = gzip.compress(bytes(64 * 2**20), compresslevel=9)  # 64 MiB of zeros in ~64 KB


def _idx_bomb(root: Path, dims: tuple[int, ...], inflated: int) -> Path:
    """A gzipped IDX file whose header declares ``dims`` and whose members inflate to ``inflated`` bytes
    (a gzip file may hold many members; readers concatenate them)."""
    root.mkdir(parents=True, exist_ok=True)
    header = struct.pack(">I", 0x0803) + struct.pack(">3I", *dims)
    path = root / "train-images-idx3-ubyte.gz"
    with path.open("wb") as fh:
        fh.write(gzip.compress(header))
        for _ in range(inflated // (64 * 2**20)):
            fh.write(_ZEROS_MEMBER)
    labels = struct.pack(">I", 0x0801) + struct.pack(">I", 10) + bytes(10)
    (root / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(labels))
    return path


def test_idx_inflating_far_past_its_header_fails_by_name(tmp_path):
    path = _idx_bomb(tmp_path / "trailing", (60_000, 28, 28), 5 * 2**30)
    assert path.stat().st_size < 6 * 2**20
    _assert_fails_by_name("idx", path, "more bytes than its header")


def test_idx_header_declaring_gigabytes_fails_before_inflating(tmp_path):
    path = _idx_bomb(tmp_path / "declared", (7_000_000, 28, 28), 5 * 2**30 + 64 * 2**20)
    _assert_fails_by_name("idx", path, "header says (7000000, 28, 28)")


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
def test_cifar_labels_nested_to_a_billion_ints_fail_by_name(tmp_path):
    row = [0] * 10_000
    block = [row] * 10_000  # pickled once: the rest are memo references
    batch = {b"data": np.zeros((10, 3072), dtype=np.uint8), b"labels": [block] * 10}
    path = tmp_path / "data_batch_1"
    path.write_bytes(pickle.dumps(batch, protocol=2))
    assert path.stat().st_size < 100_000
    _assert_fails_by_name("cifar", path, "'labels' must be a list of integers")


def test_cifar_array_claiming_a_huge_shape_is_refused(tmp_path):
    """numpy's ``_reconstruct`` allocates the shape it is given: bounded by the file's size."""
    payload = (b"\x80\x02cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\n"
               b"\x8a\x05\x00\x00\x00\x00\x10\x85" + b"U\x01b\x87R.")  # _reconstruct(ndarray, (2**36,), b'b')
    path = tmp_path / "data_batch_1"
    path.write_bytes(payload)
    _assert_fails_by_name("cifar", path, "larger than the file")


# -------------------------------------------------------------------------------------------- images
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
def huge_png(tmp_path_factory) -> Path:
    return _huge_png(tmp_path_factory.mktemp("bomb") / "real" / "big.png", 12_000)


def test_decompression_bomb_image_fails_by_name(huge_png):
    assert huge_png.stat().st_size < 1_000_000
    _assert_fails_by_name("image", huge_png, "decompression-bomb limit")


def test_probing_an_eval_folder_image_enforces_the_bomb_limit(huge_png):
    _assert_fails_by_name("probe", huge_png, "decompression-bomb limit")


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
