"""Train a quality predictor on a database: ``python -m pipeline.train --db OUT --subset cls --model resnet50``.

Reads our manifests (OUT/miqa_<subset>/manifests) or the release's label CSVs (the MIQD-2.5M download, or
``python -m pipeline.export``), splits by source image (the release's split files given by path, else a hash
of the source id), trains with the release's protocol unless told otherwise, validates twice per epoch and
keeps ``last.pt`` (to resume) and ``best.pt`` (best validation SRCC) in the run folder. Running the same
command again resumes an interrupted run; a finished run just reports.

Exit codes: 0 done; 2 usage (bad option, database, split, settings that differ from the run folder's);
3 environment (pretrained weights missing offline, a package missing); 130 interrupted (run it again).

Settings: defaults <- ``--config FILE.yaml`` (keys are the option names with underscores) <- flags.
Several GPUs: ``torchrun --nproc_per_node N -m pipeline.train ...`` (the batch is split over them).
Several datasets at once (MIMI and its baselines): ``--mix NAME=[ADAPTER@]ROOT[:LABEL] ...`` (``--mix --help``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from pipeline.cli import run_command
from pipeline.errors import EXIT_OK, EnvironmentProblem, UsageError

BOOLEAN = argparse.BooleanOptionalAction

# (flag, setting, argparse keywords); defaults live in learning.training.settings.TrainSettings
OPTIONS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("--db", "db", {"help": "database folder (holds miqa_cls/ or miqa_det/)"}),
    ("--subset", "subset", {"choices": ("cls", "det", "ins"), "help": "task (default: cls)"}),
    ("--label", "label", {"choices": ("consistency", "accuracy", "composite"), "help": "default: composite"}),
    ("--aggregation", "aggregation", {"choices": ("weighted", "mean"),
                                      "help": "aggregation over the oracles (default: weighted)"}),
    ("--format", "format", {"choices": ("auto", "manifests", "release"),
                            "help": "our Parquet manifests or the release's CSVs (default: auto)"}),
    ("--train-split", "train_split", {"help": "the release's train split file (miqa_cls_train.csv ...)"}),
    ("--test-split", "test_split", {"help": "the release's test split file (miqa_cls_val.csv ...)"}),
    ("--test-fraction", "test_fraction", {"type": float, "help": "hash split: fraction of sources (default 0.2)"}),
    ("--val-fraction", "val_fraction", {"type": float, "help": "training sources held out for validation "
                                        "(default 0: validate on the test sources, as the release does)"}),
    ("--split-salt", "split_salt", {"help": "salt of the source hash (default: miqd)"}),
    ("--limit-sources", "limit_sources", {"type": int, "help": "use only N sources (a fixed subset)"}),
    ("--model", "model", {"help": "see --list-models (default: resnet50)"}),
    ("--pretrained", "pretrained", {"action": BOOLEAN, "help": "start from ImageNet weights (default: yes)"}),
    ("--region-encoder", "region_encoder", {"help": "ra_miqa: sere_vit_small (default) or efficientnet_lite0"}),
    ("--region-weights", "region_weights", {"help": "ra_miqa: the region encoder's checkpoint"}),
    ("--resize", "resize", {"type": int, "help": "shorter side before cropping (default 288)"}),
    ("--crop", "crop", {"type": int, "help": "crop size (default 224)"}),
    ("--square-resize", "square_resize", {"action": BOOLEAN, "help": "resize to a square, not the shorter side"}),
    ("--region-size", "region_size", {"type": int, "help": "ra_miqa region view size (default 288)"}),
    ("--loss", "loss", {"choices": ("mse", "l1", "smooth_l1"), "help": "default: mse"}),
    ("--epochs", "epochs", {"type": int, "help": "default 5"}),
    ("--batch-size", "batch_size", {"type": int, "help": "images per step over all processes (default 256)"}),
    ("--lr", "lr", {"type": float, "help": "AdamW peak learning rate (default 1e-4)"}),
    ("--weight-decay", "weight_decay", {"type": float, "help": "default 1e-4"}),
    ("--betas", "betas", {"type": float, "nargs": 2, "metavar": ("B1", "B2"), "help": "default 0.9 0.999"}),
    ("--eps", "eps", {"type": float, "help": "AdamW epsilon (default 1e-8)"}),
    ("--warmup-epochs", "warmup_epochs", {"type": float, "help": "default 1"}),
    ("--warmup-lr", "warmup_lr", {"type": float, "help": "default 5e-6"}),
    ("--min-lr", "min_lr", {"type": float, "help": "end of the cosine (default 1e-8)"}),
    ("--validations-per-epoch", "validations_per_epoch", {"type": int, "help": "default 2"}),
    ("--seed", "seed", {"type": int, "help": "default 1234567"}),
    ("--amp", "amp", {"choices": ("auto", "bf16", "fp16", "off"), "help": "CUDA reduced precision (default auto)"}),
    ("--device", "device", {"help": "cpu, cuda, cuda:1 (default: CUDA when visible)"}),
    ("--workers", "workers", {"type": int, "help": "image decoding processes (default: one per core, at most 8)"}),
    ("--threads", "threads", {"type": int, "help": "CPU threads of the model (default: torch's)"}),
    ("--checkpoint-every", "checkpoint_every", {"type": int, "help": "also save last.pt every N steps"}),
    ("--run-dir", "run_dir", {"help": "run folder (default: runs/<subset>-<label>-<model>-<settings hash>)"}),
    ("--weights-dir", "weights_dir", {"help": "folder holding pretrained weight files by name (searched first)"}),
    ("--offline", "offline", {"action": "store_true", "default": argparse.SUPPRESS,
                              "help": "never download pretrained weights"}),
    ("--progress", "progress", {"action": BOOLEAN, "help": "progress bar (default: yes)"}),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     argument_default=argparse.SUPPRESS)
    parser.add_argument("--config", type=Path, help="YAML file of settings (option names, underscores)")
    parser.add_argument("--list-models", action="store_true", help="print the trainable models and exit")
    for flag, dest, keywords in OPTIONS:
        parser.add_argument(flag, dest=dest, **keywords)
    parser.add_argument("--image-size", dest="resize", type=int, help="the release's name for --resize")
    return parser


def describe_models() -> str:
    from learning.models.registry import REGION_ENCODERS, REGISTRY

    lines = [f"{name:24s} {spec.family:8s} {spec.description}" for name, spec in REGISTRY.items()]
    lines.append("ra_miqa region encoders: " + "; ".join(f"{n}: {s.note}" for n, s in REGION_ENCODERS.items()))
    return "\n".join(lines)


def describe_missing(error) -> str:
    """Every missing pretrained file, where to put it, and the ways around it (one message)."""
    lines = [f"{len(error.missing)} pretrained weight file(s) not found; put each file at the path shown:"]
    lines += [f"  {m.oracle}: {m.expected}  <- {m.url}" + (f"  ({m.hint})" if m.hint else "") for m in error.missing]
    lines.append("or pass --weights-dir DIR holding these files by name, run online without --offline, or train "
                 "from random weights with --no-pretrained.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    arguments = sys.argv[1:] if argv is None else argv
    if any(a == "--mix" or a.startswith("--mix=") for a in arguments):
        from pipeline.train_mixed import main as train_mixed

        return train_mixed(arguments)
    args = vars(build_parser().parse_args(argv))
    if args.pop("list_models", False):
        print(describe_models())
        return EXIT_OK
    return run_command(lambda: run(args))


def run(args: dict[str, Any]) -> int:
    """Settings from the flags (and config), checked before torch is imported; then the training."""
    from learning.models.registry import get
    from learning.training.settings import SettingsError, make_settings

    config = args.pop("config", None)
    try:
        settings = make_settings(args, config)
        get(settings.model)
    except (SettingsError, KeyError) as error:
        raise UsageError(error.args[0]) from None
    for name in ("db", "train_split", "test_split", "region_weights"):
        value = getattr(settings, name)
        if value is not None and not Path(value).exists():
            raise UsageError(f"{name.replace('_', '-')}: {value} does not exist")

    from learning.checkpoint import CheckpointError
    from learning.data import DatabaseError, ImageReadError
    from learning.models import RegionWeightsMissing
    from learning.models.ra_miqa import RegionWeightsError
    from learning.models.registry import ModelUnavailable
    from learning.splits import SplitError
    from learning.training.run import RunError, train
    from manifests import SettingsMismatch
    from oracles.weights import MissingWeightsError

    try:
        train(settings)
    except (MissingWeightsError, ModelUnavailable) as error:
        raise EnvironmentProblem(describe_missing(error) if isinstance(error, MissingWeightsError) else error) \
            from None
    except (DatabaseError, SplitError, SettingsMismatch, RegionWeightsMissing, RegionWeightsError, RunError,
            CheckpointError) as error:
        raise UsageError(error) from None
    except ImageReadError as error:  # from a loader worker the message is a traceback: its last line names the file
        raise UsageError(str(error).strip().splitlines()[-1]) from None
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
