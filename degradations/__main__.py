"""Degrade one image without the pipeline: ``python -m degradations IMAGE [--mask MASK] --out DIR``.

Writes the 250 outputs (25 per type) as ``DIR/<id>/<file>.png``, a CSV of what each one is, and the ROI mask
used (``<id>_binary_mask.png``). Without --mask, the mask is the pipeline's default for an image with no
annotation, and the command says which method made it. Exit codes: 0 done, 2 bad input.
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from degradations import registry
from degradations.engine import degrade
from degradations.imaging import to_rgb8


def describe_registry() -> str:
    lines = []
    for name in registry.names():
        spec = registry.get(name)
        tag = "database" if spec.in_database else "extra"
        opts = ", ".join(f"{k}={'|'.join(map(str, v))}" for k, v in spec.options.items())
        lines.append(f"{name:18s} {spec.category:13s} {tag:8s} ({', '.join(spec.param_names)}) {opts}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m degradations", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("image", nargs="?", type=Path, help="source image (any format PIL reads)")
    parser.add_argument("--mask", type=Path,
                        help="binary ROI mask image (white = ROI), of the image's size; default: the pipeline's "
                             "default mask method")
    parser.add_argument("--out", type=Path, default=Path("degraded"), help="output folder (default: %(default)s)")
    parser.add_argument("--source-id", help="id used in file names and seeds (default: the image's stem)")
    parser.add_argument("--seed", type=int, default=0, help="run seed (default: %(default)s)")
    parser.add_argument("--distortions", default="database",
                        help="'database' (the ten), 'all', or a comma-separated list (default: %(default)s)")
    parser.add_argument("--option", action="append", default=[], metavar="TYPE.OPTION=VALUE",
                        help="distortion option, e.g. motion_blur.backend=wand (repeatable)")
    parser.add_argument("--list", action="store_true", help="list the registered distortions and exit")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list:
        print(describe_registry())
        return 0
    if args.image is None:
        build_parser().error("an IMAGE is required (or --list)")
    try:
        names = registry.select(args.distortions)
        options = registry.parse_options(args.option)
    except (KeyError, ValueError) as error:
        build_parser().error(str(error))
    try:
        image = _read(args.image, "image", to_rgb8)
        if args.mask:
            mask = _read(args.mask, "mask", lambda opened: np.asarray(opened.convert("L")))
            if mask.shape != image.shape[:2]:
                raise ValueError(f"mask {args.mask} is {mask.shape[1]}x{mask.shape[0]}, the image is "
                                 f"{image.shape[1]}x{image.shape[0]}: give a mask of the image's size")
            mask = np.where(mask > 127, 255, 0).astype(np.uint8)
        else:
            from masks import default_mask

            result = default_mask(image)
            mask = result.mask
            print(f"no --mask: the ROI mask comes from the default method {result.method!r} (coverage "
                  f"{result.coverage:.0%}); it is saved beside the images", file=sys.stderr)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    source_id = args.source_id or args.image.stem
    folder = args.out / source_id
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask).save(folder / f"{source_id}_binary_mask.png")
    started, count = time.perf_counter(), 0
    with open(folder / f"{source_id}_degradations.csv", "w", newline="") as table:
        writer = csv.writer(table)
        writer.writerow(["file", "distortion", "region", "roi_level", "bg_level", "roi_candidate",
                         "bg_candidate", "roi_params", "bg_params", "psnr", "region_fallback"])
        for out in degrade(image, mask, source_id=source_id, seed=args.seed, distortions=names,
                           options=options):
            temporary = folder / f".{out.file_name}.tmp"
            temporary.write_bytes(out.png)
            os.replace(temporary, folder / out.file_name)
            writer.writerow([out.file_name, out.distortion, out.config.region, out.config.roi_level,
                             out.config.bg_level, out.roi.index, out.bg.index, list(out.roi.params),
                             list(out.bg.params), f"{out.psnr:.4f}", out.region_fallback])
            count += 1
    print(f"wrote {count} images to {folder} in {time.perf_counter() - started:.1f} s", file=sys.stderr)
    return 0


def _read(path: Path, what: str, convert):
    """An image file through ``convert``; ValueError with one line when it is missing or unreadable."""
    from PIL import UnidentifiedImageError

    try:
        with Image.open(path) as opened:
            return convert(opened)
    except FileNotFoundError:
        raise ValueError(f"{what} {path} does not exist") from None
    except (OSError, UnidentifiedImageError, SyntaxError) as error:
        raise ValueError(f"{what} {path} cannot be read ({' '.join(str(error).split())})") from None


if __name__ == "__main__":
    raise SystemExit(main())
