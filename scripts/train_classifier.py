"""Train the small CNN behind the ``mnist-classifier`` / ``fashion-mnist-classifier`` feature extractors.

    OMP_NUM_THREADS=2 python scripts/train_classifier.py mnist --root ../shared/data/mnist
    OMP_NUM_THREADS=2 python scripts/train_classifier.py fashion-mnist --root ../shared/data/fashion-mnist

Writes ``gankit/assets/<name>-classifier.pt`` (a float32 state dict, loadable with ``weights_only=True``) and
prints its test accuracy and sha256: record both in ``gankit/features/classifier.py`` (``CLASSIFIERS``), since
the extractor refuses a file whose hash differs. Training is seeded and runs on the CPU in a few minutes:
AdamW with a one-cycle schedule, random translations of ±2 pixels (plus ±10° rotations for digits, horizontal
flips for clothes), batch norm statistics frozen for the last epoch's evaluation by ``eval()``.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from gankit.data.idx import load_split  # noqa: E402
from gankit.features.classifier import ASSETS, SmallCNN, sha256_file  # noqa: E402


def load(root: Path, split: str) -> tuple[torch.Tensor, torch.Tensor]:
    images, labels = load_split(root, split)
    return images.float().div(127.5).sub(1.0).unsqueeze(1), labels.long()


def augment(x: torch.Tensor, rotate: float, flip: bool, gen: torch.Generator) -> torch.Tensor:
    """Random translations (±2 px), rotations (±``rotate`` degrees) and, optionally, horizontal flips."""
    b = x.shape[0]
    angle = (torch.rand(b, generator=gen) * 2 - 1) * math.radians(rotate)
    shift = (torch.randint(-2, 3, (b, 2), generator=gen).float()) * (2 / 28)
    cos, sin = angle.cos(), angle.sin()
    sign = torch.where(torch.rand(b, generator=gen) < 0.5, -1.0, 1.0) if flip else torch.ones(b)
    rows = [torch.stack([cos * sign, -sin, shift[:, 0]], 1), torch.stack([sin * sign, cos, shift[:, 1]], 1)]
    theta = torch.stack(rows, 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # background is -1: shift the images to 0-background for zero padding, then back
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


@torch.no_grad()
def accuracy(model: SmallCNN, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    correct = sum(int((model(x[i : i + 1000]).argmax(1) == y[i : i + 1000]).sum()) for i in range(0, len(x), 1000))
    return correct / len(x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data", choices=["mnist", "fashion-mnist"])
    parser.add_argument("--root", type=Path, required=True, help="folder holding the four IDX files")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=4e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="default: gankit/assets/<data>-classifier.pt")
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    x_train, y_train = load(args.root, "train")
    x_test, y_test = load(args.root, "test")
    model = SmallCNN()
    steps_per_epoch = math.ceil(len(x_train) / args.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=args.epochs * steps_per_epoch)
    rotate, flip = (10.0, False) if args.data == "mnist" else (0.0, True)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(x_train), generator=gen)
        total = 0.0
        for i in range(0, len(order), args.batch_size):
            idx = order[i : i + args.batch_size]
            x = augment(x_train[idx], rotate, flip, gen)
            loss = F.cross_entropy(model(x), y_train[idx], label_smoothing=0.05)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        acc = accuracy(model, x_test, y_test)
        print(f"epoch {epoch + 1}/{args.epochs}: loss {total / len(x_train):.4f}, test accuracy {acc:.4%} "
              f"({time.perf_counter() - start:.0f} s)", flush=True)
    out = args.out or ASSETS / f"{args.data}-classifier.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.detach().clone().contiguous() for k, v in model.state_dict().items()}, out)
    acc = accuracy(model, x_test, y_test)
    print(f"| {args.data}-classifier | test accuracy {acc:.4%} | {out.stat().st_size} bytes | "
          f"sha256 {sha256_file(out)} |")


if __name__ == "__main__":
    main()
