"""Score images with a trained predictor: ``python -m pipeline.predict --checkpoint RUN/best.pt IMAGES...``.

Each argument is an image file or a folder (its image files, recursively, sorted). The images get the
views the model was trained with (resize, centre crop); higher scores mean images that vision models
handle better. Writes CSV (path, score, error) to stdout or --output; an unreadable file gets an empty
score and its reason.

Exit codes: 0 every image scored; 1 some images were unreadable; 2 usage; 130 interrupted.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

from pipeline.cli import run_command, say
from pipeline.errors import EXIT_ITEMS_FAILED, EXIT_OK, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.predict", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="best.pt (or last.pt) of a training run")
    parser.add_argument("images", nargs="+", type=Path, help="image files or folders")
    parser.add_argument("--output", type=Path, help="CSV file to write (default: stdout)")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when visible)")
    parser.add_argument("--batch-size", type=int, default=32, help="default: %(default)s")
    parser.add_argument("--workers", type=int, default=0, help="image decoding processes (default: %(default)s)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    if not args.checkpoint.is_file():
        raise UsageError(f"no checkpoint at {args.checkpoint}")
    if args.batch_size < 1 or args.workers < 0:
        raise UsageError("--batch-size must be at least 1 and --workers at least 0")
    from learning.prediction import list_images

    try:
        paths = list_images(args.images)
    except FileNotFoundError as error:
        raise UsageError(error) from None
    if not paths:
        raise UsageError("no image files in the given folders")
    from learning.checkpoint import CheckpointError
    from learning.prediction import Predictor

    try:
        predictor = Predictor.from_checkpoint(args.checkpoint, args.device)
    except CheckpointError as error:
        raise UsageError(error) from None
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["path", "score", "error"])
    failed = 0
    for result in predictor.score_files(paths, args.batch_size, args.workers):
        failed += result.error is not None
        writer.writerow([str(result.path), "" if result.score is None else f"{result.score:.6f}", result.error or ""])
    if args.output:
        from manifests.atomic import write_bytes_atomic

        args.output.parent.mkdir(parents=True, exist_ok=True)
        write_bytes_atomic(args.output, buffer.getvalue().encode("utf-8"))
        say(f"{len(paths) - failed} images scored, {failed} unreadable: {args.output}")
    else:
        sys.stdout.write(buffer.getvalue())
    return EXIT_ITEMS_FAILED if failed else EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
