"""Evaluate a trained predictor: ``python -m pipeline.evaluate --checkpoint RUN/best.pt [--db OUT] --split test``.

Predicts the images of the run's test (or train / val) sources, or of every labelled image (``--split all``,
e.g. another database), and measures its agreement with the label it was trained for: SRCC, KRCC, PLCC and
RMSE, raw and after the 4- and 5-parameter logistic fits, over all images and per distortion, severity pair
and region pattern. The HVS metrics of the same images (PSNR, and every metric of the metrics stage in
the database) are measured alongside, so learned and full-reference predictors compare on equal terms.

Writes predictions.{parquet,csv}, agreement.{parquet,csv}, agreement.png and scatter.png to --output
(default: <checkpoint folder>/eval-<split>) and prints the overall figures.

Exit codes: 0 done; 2 usage (no such checkpoint or database, an unreadable image); 130 interrupted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pipeline.cli import run_command, say
from pipeline.errors import EXIT_OK, UsageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.evaluate", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", type=Path, required=True, help="best.pt or last.pt of a run")
    parser.add_argument("--db", type=Path, help="database folder (default: the one the run trained on)")
    parser.add_argument("--split", default="test", choices=("test", "val", "train", "all"),
                        help="which of the run's sources, or all labelled images (default: %(default)s)")
    parser.add_argument("--output", type=Path, help="folder for the tables and plots")
    parser.add_argument("--device", help="cpu, cuda, cuda:1 (default: CUDA when visible)")
    parser.add_argument("--batch-size", type=int, default=64, help="default: %(default)s")
    parser.add_argument("--workers", type=int, default=2, help="image decoding processes (default: %(default)s)")
    parser.add_argument("--no-fits", action="store_true", help="skip the logistic fits (faster on huge sets)")
    return parser


def summary(evaluation) -> str:
    table = evaluation.agreement
    overall = table[table["grouping"] == "all"].set_index("predictor")
    columns = [c for c in ("n", "srcc", "krcc", "plcc", "plcc_l4", "plcc_l5", "rmse", "rmse_l4") if c in overall]
    lines = [evaluation.title, f"{'predictor':18s} " + " ".join(f"{c:>8s}" for c in columns)]
    for predictor in evaluation.predictors:
        row = overall.loc[predictor]
        lines.append(f"{predictor:18s} " + " ".join(f"{row[c]:8d}" if c == "n" else f"{row[c]:8.4f}"
                                                    for c in columns))
    by_type = table[(table["grouping"] == "distortion")].pivot(index="group", columns="predictor", values="srcc")
    lines.append("SRCC per distortion:")
    lines.append(f"{'':18s} " + " ".join(f"{p[:10]:>10s}" for p in evaluation.predictors))
    for group, row in by_type.iterrows():
        lines.append(f"{group:18s} " + " ".join(f"{row[p]:10.4f}" for p in evaluation.predictors))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_command(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    if not args.checkpoint.is_file():
        raise UsageError(f"no checkpoint at {args.checkpoint}")
    if args.db is not None and not args.db.is_dir():
        raise UsageError(f"{args.db} is not a folder")
    if args.batch_size < 1 or args.workers < 0:
        raise UsageError("--batch-size must be at least 1 and --workers at least 0")
    from learning.checkpoint import CheckpointError
    from learning.data import DatabaseError, ImageReadError
    from learning.evaluation import evaluate_checkpoint, write_evaluation
    from learning.splits import SplitError

    try:
        evaluation = evaluate_checkpoint(args.checkpoint, args.db, args.split, args.device, args.batch_size,
                                         args.workers, fits=not args.no_fits)
    except (CheckpointError, DatabaseError, SplitError, ValueError) as error:
        raise UsageError(error) from None
    except ImageReadError as error:  # from a loader worker the message is a traceback: its last line names the file
        raise UsageError(str(error).strip().splitlines()[-1]) from None
    output = args.output or args.checkpoint.parent / f"eval-{args.split}"
    written = write_evaluation(evaluation, output)
    print(summary(evaluation))
    say(f"tables and plots in {output} ({len(written)} files)")
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
