"""Feature extraction throughput (img/s) of the built-in extractors, as metrics use them.

Each extractor is built through the registry exactly as a metric builds it and run through
``Extractor.extract`` (batched, ``torch.inference_mode``) on random images in [-1, 1] of its input shape:
``mnist-classifier`` and ``fashion-mnist-classifier`` on 1×28×28, ``inception-v3`` on 3×32×32 images (resized
to 299×299 inside, as for CIFAR). Inception runs with its architecture's default initialisation written to a
temporary file (no download; the speed does not depend on the weights' values). Extractors alternate over
rounds; the table quotes the median img/s.

    python benchmarks/bench_extraction.py [--quick] [--rounds 5] [--device cpu|cuda] [--write]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

from common import median, report

#: extractor -> (images per round, input shape, params)
EXTRACTORS: dict[str, tuple[int, tuple[int, int, int], dict[str, Any]]] = {
    "mnist-classifier": (10_000, (1, 28, 28), {}),
    "fashion-mnist-classifier": (10_000, (1, 28, 28), {}),
    "inception-v3": (128, (3, 32, 32), {"verify_hash": False}),
}


def build(name: str, params: dict[str, Any], folder: Path) -> Any:
    import torch

    from gankit.features.inception import FIDInceptionV3
    from gankit.metrics.features import get_extractor
    from gankit.protocols import BuildEnv

    if name == "inception-v3":
        weights = folder / "inception-default-init.pth"
        torch.save(FIDInceptionV3().state_dict(), weights)
        params = {**params, "weights": str(weights)}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # verify_hash = false warns, rightly, but not here
        return get_extractor(name, params, BuildEnv(data=None, cache_dir=folder))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="1 round, a tenth of the images")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--write", action="store_true", help="append the result to benchmarks/results/HISTORY.md")
    args = parser.parse_args()
    import torch

    device = torch.device(args.device)
    rounds = 1 if args.quick else args.rounds
    rates: dict[str, list[float]] = {name: [] for name in EXTRACTORS}
    with tempfile.TemporaryDirectory() as tmp:
        extractors = {name: build(name, params, Path(tmp)) for name, (_, _, params) in EXTRACTORS.items()}
        gen = torch.Generator().manual_seed(0)
        images = {}
        for name, (n, shape, _) in EXTRACTORS.items():
            count = max(n // 10, 32) if args.quick else n
            images[name] = torch.rand((count, *shape), generator=gen) * 2 - 1
            extractors[name].extract(images[name][:32], device)  # warm-up
        for _ in range(rounds):
            for name, extractor in extractors.items():
                if device.type == "cuda":
                    torch.cuda.synchronize()
                start = time.perf_counter()
                extractor.extract(images[name], device)
                if device.type == "cuda":
                    torch.cuda.synchronize()
                rates[name].append(len(images[name]) / (time.perf_counter() - start))
    lines = ["| extractor | input | images per round | batch size | median img/s |", "| --- | --- | --- | --- | --- |"]
    for name, (_, shape, _) in EXTRACTORS.items():
        lines.append(f"| {name} | {'×'.join(map(str, shape))} | {len(images[name]):,} | "
                     f"{extractors[name].batch_size} | {median(rates[name]):,.0f} |")
    body = (f"device {device}, {torch.get_num_threads()} thread(s), {rounds} round(s), fp32, "
            "`Extractor.extract` as metrics call it.\n\n" + "\n".join(lines))
    print(report("Feature extraction throughput", body, args.write))


if __name__ == "__main__":
    main()
