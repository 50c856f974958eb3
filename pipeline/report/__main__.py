"""Report on a database: ``python -m pipeline.report OUT [--test-split cls=miqa_cls_val.csv] [--test-split det=...]``.

Writes OUT/report/index.html (open it from disk; plots and thumbnails lie beside it), OUT/report/stats.json
(every figure of the page) and OUT/README.md (the dataset card). Works on partial databases (only generated, some
oracles, no metrics) and lists what is missing with the command that would add it.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Sequence

from pipeline.cli import run_command, say
from pipeline.errors import EXIT_OK, UsageError
from pipeline.report.settings import SUBSETS, ReportSettings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.report", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, nargs="?", default=Path("out"), help="database folder (default: out)")
    parser.add_argument("--test-split", action="append", default=[], metavar="SUBSET=PATH",
                        help="the release's test split file of a subset (cls: miqa_cls_val.csv, 'Image Name'; det: "
                             "miqa_det_val.csv, 'Image Index'; det's applies to det and ins): the HVS correlation "
                             "tables then use its sources, as the paper did (default: every labelled image)")
    parser.add_argument("--output", type=Path, help="report folder (default: OUT/report)")
    parser.add_argument("--examples", type=int, default=3, help="example strips per subset (default: %(default)s)")
    parser.add_argument("--scatter-points", type=int, default=4000,
                        help="images drawn at random per scatter plot (default: %(default)s)")
    parser.add_argument("--workers", type=int,
                        help="processes for the correlation tables (default: one per core, at most 4)")
    parser.add_argument("--no-card", action="store_true", help="do not write the dataset card OUT/README.md")
    return parser


def settings_from_args(args: argparse.Namespace) -> ReportSettings:
    """Checked settings; UsageError names what is wrong."""
    if not args.out.is_dir():
        raise UsageError(f"{args.out} is not a folder; give the OUT folder of python -m pipeline.generate")
    splits: dict[str, Path] = {}
    for entry in args.test_split:
        subset, _, path = entry.partition("=")
        if subset not in SUBSETS or not path:
            raise UsageError(f"--test-split {entry!r}: expected SUBSET=PATH with SUBSET one of {', '.join(SUBSETS)}")
        if subset in splits:
            raise UsageError(f"--test-split given twice for {subset}")
        if not Path(path).is_file():
            raise UsageError(f"--test-split {subset}: no file {path}")
        splits[subset] = Path(path)
    from pipeline.driver import default_workers

    workers = args.workers if args.workers is not None else min(4, default_workers())
    try:
        return ReportSettings(out=args.out, output=args.output, test_splits=splits, examples=args.examples,
                              scatter_points=args.scatter_points, workers=workers, card=not args.no_card)
    except ValueError as error:
        raise UsageError(str(error)) from None


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        settings = settings_from_args(args)
        from learning.splits import SplitError
        from pipeline.report.build import build_report

        try:
            result = build_report(settings)
        except SplitError as error:
            raise UsageError(str(error)) from None
        say(f"report: {result.index} in {result.seconds:.1f} s (figures: {result.stats}"
            + (f"; dataset card: {result.card})" if result.card else ")"))
        return EXIT_OK

    return run_command(body)


if __name__ == "__main__":
    raise SystemExit(main())
