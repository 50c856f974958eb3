"""Does decoding bound training? The training loader alone vs the model's forward + backward, side by side.

    python -m benchmarks.bench_loader [--device cuda] [--models efficientnet_lite0,resnet50] [--batch-size 32]

Generates a small cls database (2 photos at 500 x 375, 4 distortion types: 200 PNGs, labelled by a rule),
then times (a) the training DataLoader alone: PNG decode, Resize(288) + RandomCrop(224) as uint8,
collation and (on CUDA) pinned memory, for 0, 1, 2 ... workers; (b) each model's training step (normalise,
forward, MSE, backward, AdamW step) on a batch held on the device. Prints images/s of both and their ratio:
a loader rate above the step rate means decoding does not bound training.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import torch

from learning.data import QualityDataset, protocol_views, read_database
from learning.data.loader import EpochSampler, make_loader
from learning.models import ModelConfig, build_model
from tests.learning.databases import known_answer_labels, generate, publish_labels, write_photos


def loader_rate(dataset: QualityDataset, workers: int, batch_size: int, pin: bool, images: int) -> float:
    sampler = EpochSampler(len(dataset), 0, True, True)
    loader = make_loader(dataset, sampler, batch_size, workers, pin, 0)
    epoch, done, started = 0, 0, None
    while done < images:
        sampler.set_position(epoch)
        for batch in loader:
            if started is None:  # the first batch pays the workers' start
                started = time.perf_counter()
                continue
            done += len(batch["label"])
            if done >= images:
                break
        epoch += 1
    return done / (time.perf_counter() - started)


def step_rate(name: str, device: torch.device, batch_size: int, steps: int) -> float:
    model = build_model(ModelConfig(name), pretrained=False).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4)
    images = torch.randint(0, 256, (batch_size, 3, 224, 224), dtype=torch.uint8, device=device)
    labels = torch.rand(batch_size, device=device)

    def step() -> None:
        loss = torch.nn.functional.mse_loss(model(images), labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    step()  # warm-up
    if device.type == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(steps):
        step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch_size / (time.perf_counter() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--models", default="efficientnet_lite0,resnet50")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--images", type=int, default=400, help="images timed per loader setting")
    parser.add_argument("--steps", type=int, default=3, help="training steps timed per model")
    parser.add_argument("--workers", default=",".join(str(w) for w in sorted({0, 1, min(4, os.cpu_count() or 1)})))
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    root = Path(tempfile.mkdtemp(prefix="bench_loader_"))
    try:
        write_photos(root / "src", {"chelsea": "chelsea", "coffee": "coffee"}, (500, 375))
        generate(root / "out", root / "src", "cls", "contrast,pixelate,gaussian_noise,defocus_blur", workers=2)
        publish_labels(root / "out", "cls", "cls", known_answer_labels)
        table = read_database(root / "out", "cls")
        dataset = QualityDataset(table.rows, protocol_views(True), seed=0)
        print(f"{len(dataset)} PNGs of 500x375, Resize(288) + RandomCrop(224), batch {args.batch_size}, "
              f"device {device}, {os.cpu_count()} cores")
        rates = {}
        for workers in (int(w) for w in args.workers.split(",")):
            rates[workers] = loader_rate(dataset, workers, args.batch_size, device.type == "cuda", args.images)
            print(f"  loader alone, {workers} workers: {rates[workers]:.0f} img/s")
        best = max(rates.values())
        for name in args.models.split(","):
            rate = step_rate(name, device, args.batch_size, args.steps)
            print(f"  {name} training step (forward + backward + AdamW): {rate:.1f} img/s; "
                  f"loader / step = {best / rate:.1f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
