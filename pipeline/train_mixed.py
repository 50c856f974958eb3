"""Train one quality model on several datasets at once (MIMI):
``python -m pipeline.train --mix cls=OUT:composite det=OUT:composite kadid10k=/data/kadid10k [--method mimi]``.

Each dataset is ``name=[adapter@]root[:label]``: the adapter defaults to the name (``kadid10k=/data/kadid10k``),
``mine=csv@/path/scores.csv`` reads a CSV of path, score[, group], ``psnr=cls@OUT:psnr`` is the PSNR of an
MIQD database's cls images. ``--list-adapters`` prints every adapter. Per-dataset settings:
``--dataset-option NAME.KEY=VALUE`` (``weight`` and ``batch_size`` of its loss term and mini-batch, or an
adapter option such as ``split_lists=train:FILE,val:FILE,test:FILE``, ``labels=FILE``, ``lower_is_better=true``).

One shared regressor maps an image to a proxy score; ``--method`` says how the proxy meets each dataset's
annotations (normalised to [0, 10] on its training split): mimi (a monotone map and a monotonic invertible
network per dataset, with consistency and range terms), monotone (a monotone map only), naive (the pooled
normalised annotations), pairwise (UNIQUE's fidelity loss on pairs within each dataset). The defaults follow
the MIMI authors' CNN variant. The run is repeated on ``--splits`` random train/val/test splits (by reference
image or source), each in OUT_DIR/split_<i>; the test figures (SRCC of the proxy, PLCC after 4- and
5-parameter logistic fits) are reported per dataset as medians over the splits, with their average weighted
by dataset size (OUT_DIR/summary.json). Running the same command again resumes; a finished run just reports.

Exit codes: 0 done; 2 usage (bad option or dataset, settings that differ from the run folder's);
3 environment (pretrained weights missing offline, a package missing); 130 interrupted (run it again).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Any

from pipeline.cli import run_command, say
from pipeline.errors import EXIT_OK, EnvironmentProblem, UsageError

BOOLEAN = argparse.BooleanOptionalAction
METHODS = ("mimi", "monotone", "naive", "pairwise")  # learning.mixed.methods.METHODS (a test keeps them equal)
OWN_REGRESSORS = ("cnn", "frozen-lite0")  # learning.mixed.regressors.REGRESSORS (likewise)
SPEC_FIELDS = {"weight": float, "batch_size": int}  # DatasetSpec fields set by --dataset-option


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.train --mix", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add = parser.add_argument
    add("--mix", nargs="*", metavar="NAME=[ADAPTER@]ROOT[:LABEL]", default=[], help="the datasets to mix")
    add("--list-adapters", action="store_true", help="print the dataset adapters and exit")
    add("--dataset-option", nargs="+", action="extend", default=[], metavar="NAME.KEY=VALUE",
        help="per dataset: weight (loss weight, default 1), batch_size, or an adapter option")
    add("--method", choices=METHODS, default="mimi", help="default: %(default)s")
    add("--out", type=Path, help="run folder (default: runs/mix-<method>-<names>)")
    add("--splits", type=int, default=1, help="random splits to train and evaluate (the authors: 10; default 1)")
    add("--first-split", type=int, default=0, help="index of the first split (default 0)")
    add("--split-fractions", type=float, nargs=3, default=(0.6, 0.2, 0.2), metavar=("TRAIN", "VAL", "TEST"),
        help="default 0.6 0.2 0.2 (the authors' CNN variant)")
    add("--split-seed", type=int, default=0, help="seed of the random splits (default 0)")
    add("--shared-split", action="store_true",
        help="one split of the union of the datasets' groups (datasets that share sources or references)")
    group = parser.add_argument_group("shared regressor")
    group.add_argument("--regressor", default="cnn",
                       help="cnn (ResNet-34 / VGG-16 features, FC head), frozen-lite0 (EfficientNet-Lite0 "
                            "features, frozen), or a model of `python -m pipeline.train --list-models` "
                            "(its backbone with the FC head; not ra_miqa); default: cnn")
    group.add_argument("--backbone", choices=("resnet34", "vgg16"), default="resnet34",
                       help="cnn: default resnet34")
    group.add_argument("--bilinear", action=BOOLEAN, default=True, help="cnn: bilinear pooling (default: yes)")
    group.add_argument("--head", type=int, nargs="*", default=[512, 64], metavar="N",
                       help="hidden sizes of the FC head before its single output (default 512 64)")
    group.add_argument("--pretrained", action=BOOLEAN, default=True,
                       help="start from ImageNet weights (default: yes; frozen-lite0 always uses its own)")
    group.add_argument("--freeze-backbone", action="store_true",
                       help="registry models: train the head only (features computed once and cached)")
    group.add_argument("--weights-dir", help="folder holding pretrained weight files by name (searched first)")
    group.add_argument("--offline", action="store_true", help="never download pretrained weights")
    group = parser.add_argument_group("mappers (mimi, monotone)")
    group.add_argument("--minn-blocks", type=int, default=1, help="coupling blocks per MINN (default 1)")
    group.add_argument("--minn-hidden", type=int, nargs="+", default=[100, 100, 100], metavar="N",
                       help="hidden sizes of each monotone function's integrand (default 100 100 100)")
    group.add_argument("--minn-steps", type=int, default=100, help="Clenshaw-Curtis intervals (default 100)")
    group.add_argument("--minn-activation", choices=("relu", "silu"), default="relu", help="default: relu")
    group = parser.add_argument_group("loss")
    group.add_argument("--consistency-weight", type=float, default=2.0, help="SmoothL1(y1, y2) (default 2)")
    group.add_argument("--range-weight", type=float, help="range constraint (default 1/K for K datasets)")
    group.add_argument("--smooth-l1-beta", type=float, default=1.0, help="default 1")
    group = parser.add_argument_group("optimisation")
    group.add_argument("--epochs", type=int, default=30, help="default 30")
    group.add_argument("--batch-size", type=int, default=16, help="per dataset and step (default 16)")
    group.add_argument("--steps-per-epoch", type=int, help="default: one pass over the largest training set")
    group.add_argument("--lr", type=float, default=6e-4, help="Adam (default 6e-4)")
    group.add_argument("--backbone-lr-factor", type=float, default=0.1, help="backbone lr = lr x this (default 0.1)")
    group.add_argument("--weight-decay", type=float, default=0.0, help="default 0")
    group.add_argument("--step-size", type=int, default=5, help="StepLR: every N epochs ... (default 5)")
    group.add_argument("--gamma", type=float, default=0.8, help="... multiply the learning rates by this (default 0.8)")
    group.add_argument("--seed", type=int, default=19901116, help="default 19901116 (the authors')")
    group = parser.add_argument_group("inputs and execution")
    group.add_argument("--resize", type=int, default=512, help="shorter side before cropping (default 512)")
    group.add_argument("--crop", type=int, default=384, help="square crop: random in training, centred in "
                                                             "evaluation (default 384)")
    group.add_argument("--hflip", action=BOOLEAN, default=True, help="random horizontal flips (default: yes)")
    group.add_argument("--cache-features", action=BOOLEAN, default=True,
                       help="frozen extractors: compute features once (default: yes)")
    group.add_argument("--feature-cache", help="folder of cached features (default: each run's folder)")
    group.add_argument("--workers", type=int, default=0, help="image decoding processes (default 0)")
    group.add_argument("--eval-batch-size", type=int, default=16, help="default 16")
    group.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 (default: CUDA when visible)")
    group.add_argument("--threads", type=int, help="CPU threads of the model (default: torch's)")
    group.add_argument("--checkpoint-every", type=int, default=200, help="also save last.pt every N steps")
    group.add_argument("--progress", action=BOOLEAN, default=True, help="progress bars (default: yes)")
    return parser


def describe_adapters() -> str:
    from learning.mixed.adapters import get, names

    lines = []
    for name in names():
        adapter = get(name)
        labels = f" [labels: {', '.join(adapter.labels)}]" if adapter.labels else ""
        lines.append(f"{name:10s} {adapter.description}{labels}")
    return "\n".join(lines)


def dataset_specs(args: argparse.Namespace) -> tuple:
    """The --mix specs with their --dataset-option settings; checks what needs no image or label file."""
    from learning.mixed.adapters import DatasetSpec, get
    from learning.mixed.annotations import DatasetError

    if not args.mix:
        raise UsageError("give the datasets to mix: --mix NAME=[ADAPTER@]ROOT[:LABEL] ... (--list-adapters)")
    try:
        specs = {}
        for text in args.mix:
            spec = DatasetSpec.parse(text)
            if spec.name in specs:
                raise DatasetError(f"dataset name {spec.name!r} is given twice; names must be unique in a mix")
            adapter = get(spec.adapter)
            if spec.label is not None and spec.label not in adapter.labels:
                known = ", ".join(adapter.labels) if adapter.labels else "none"
                raise DatasetError(f"{spec.name}: adapter {adapter.name} has no label {spec.label!r}; labels: {known}")
            if not Path(spec.root).exists():
                raise DatasetError(f"{spec.name}: {spec.root} does not exist; give the dataset's folder (or file)")
            specs[spec.name] = spec
    except DatasetError as error:
        raise UsageError(error) from None
    fields: dict[str, dict[str, Any]] = {name: {} for name in specs}
    options: dict[str, list[tuple[str, str]]] = {name: [] for name in specs}
    for entry in args.dataset_option:
        target, eq, value = entry.partition("=")
        name, dot, key = target.partition(".")
        if not (eq and dot and key):
            raise UsageError(f"--dataset-option takes NAME.KEY=VALUE, got {entry!r}")
        if name not in specs:
            raise UsageError(f"--dataset-option {entry}: no dataset {name!r} in --mix ({', '.join(specs)})")
        if key in SPEC_FIELDS:
            try:
                fields[name][key] = SPEC_FIELDS[key](value)
            except ValueError:
                raise UsageError(f"--dataset-option {entry}: {key} must be a number") from None
            if not fields[name][key] > 0:
                raise UsageError(f"--dataset-option {entry}: {key} must be positive")
        else:
            options[name].append((key, value))
    from dataclasses import replace

    return tuple(replace(spec, options=tuple(options[n]), **fields[n]) for n, spec in specs.items())


def check_numbers(args: argparse.Namespace) -> None:
    positive = ("splits", "epochs", "batch_size", "lr", "step_size", "minn_blocks", "minn_steps", "resize", "crop",
                "eval_batch_size", "checkpoint_every")
    for name in positive:
        if not getattr(args, name) > 0:
            raise UsageError(f"--{name.replace('_', '-')} must be positive, got {getattr(args, name)}")
    for name in ("first_split", "workers", "weight_decay", "backbone_lr_factor", "consistency_weight"):
        if getattr(args, name) < 0:
            raise UsageError(f"--{name.replace('_', '-')} must not be negative, got {getattr(args, name)}")
    for name in ("steps_per_epoch", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1")
    if args.range_weight is not None and args.range_weight < 0:
        raise UsageError("--range-weight must not be negative")
    if not 0 < args.gamma <= 1:
        raise UsageError(f"--gamma must be in (0, 1], got {args.gamma}")
    fractions = args.split_fractions
    if any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-9 or fractions[0] <= 0:
        raise UsageError(f"--split-fractions must be three non-negative numbers summing to 1 with a training part, "
                         f"got {' '.join(map(str, fractions))}")
    if args.resize < args.crop:
        raise UsageError(f"--resize {args.resize} is smaller than --crop {args.crop}")
    if any(n < 1 for n in [*args.head, *args.minn_hidden]):
        raise UsageError("--head and --minn-hidden sizes must be positive")


def check_regressor(args: argparse.Namespace) -> None:
    from learning.models.registry import REGISTRY

    registered = [n for n, s in REGISTRY.items() if not s.region_view and n not in OWN_REGRESSORS]
    if args.regressor not in (*OWN_REGRESSORS, *registered):
        raise UsageError(f"unknown regressor {args.regressor!r}; known: {', '.join([*OWN_REGRESSORS, *registered])}")
    if args.freeze_backbone and args.regressor in OWN_REGRESSORS:
        raise UsageError("--freeze-backbone is for registry models (frozen-lite0 is frozen already, cnn trains its "
                         "backbone)")
    if args.regressor in registered:
        from learning.models import ModelConfig, check_config
        from learning.models.registry import ModelUnavailable

        try:
            check_config(ModelConfig(args.regressor, crop=args.crop))
        except ModelUnavailable as error:
            raise EnvironmentProblem(error) from None


def make_settings(args: argparse.Namespace, specs: tuple):
    """The MixedSettings of the checked arguments (learning.mixed's settings objects are torch-free)."""
    from learning.mixed.data import SplitSettings
    from learning.mixed.inputs import InputSettings
    from learning.mixed.methods import LossSettings, MinnSettings
    from learning.mixed.regressors import RegressorSettings
    from learning.mixed.trainer import MixedSettings, OptimSettings

    out = args.out or Path("runs") / f"mix-{args.method}-{'+'.join(s.name for s in specs)}"
    return MixedSettings(
        datasets=specs, out=str(out), method=args.method,
        regressor=RegressorSettings(name=args.regressor, backbone=args.backbone, bilinear=args.bilinear,
                                    head=tuple(args.head), pretrained=args.pretrained, weights_dir=args.weights_dir,
                                    allow_download=not args.offline, freeze_backbone=args.freeze_backbone),
        minn=MinnSettings(blocks=args.minn_blocks, hidden=tuple(args.minn_hidden), steps=args.minn_steps,
                          activation=args.minn_activation),
        loss=LossSettings(consistency_weight=args.consistency_weight, range_weight=args.range_weight,
                          smooth_l1_beta=args.smooth_l1_beta),
        optim=OptimSettings(lr=args.lr, backbone_lr_factor=args.backbone_lr_factor, weight_decay=args.weight_decay,
                            epochs=args.epochs, step_size=args.step_size, gamma=args.gamma),
        inputs=InputSettings(resize=args.resize, crop=args.crop, hflip=args.hflip, cache_features=args.cache_features,
                             feature_cache=args.feature_cache, num_workers=args.workers,
                             eval_batch_size=args.eval_batch_size),
        split=SplitSettings(fractions=tuple(args.split_fractions), seed=args.split_seed, shared=args.shared_split),
        batch_size=args.batch_size, steps_per_epoch=args.steps_per_epoch, seed=args.seed, device=args.device,
        checkpoint_every=args.checkpoint_every, progress=args.progress,
    )  # fmt: skip


def summary_lines(summary, splits: int) -> list[str]:
    sizes = {name: int(runs["n"]) for name, runs in summary.runs[0].metrics["test"].items()}
    lines = [f"test figures, median over {splits} split(s):",
             f"{'dataset':16s} {'test n':>7s} {'SRCC':>7s} {'PLCC(l4)':>9s} {'PLCC(l5)':>9s}"]
    for name, figures in summary.median.items():
        lines.append(f"{name:16s} {sizes[name]:7d} {figures['srcc']:7.4f} {figures['plcc_l4']:9.4f} "
                     f"{figures['plcc_l5']:9.4f}")
    weighted = summary.weighted
    lines.append(f"{'size-weighted':16s} {'':7s} {weighted['srcc']:7.4f} {weighted['plcc_l4']:9.4f} "
                 f"{weighted['plcc_l5']:9.4f}")
    lines.append(f"runs and summary.json in {Path(summary.runs[0].out).parent}")
    return lines


def _one_line(error: BaseException) -> str:
    """A loader worker's exception carries the worker's traceback: its last line holds the message."""
    text = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return text.split(": ", 1)[1] if text.startswith(("learning.", "DatasetError")) and ": " in text else text


def run(args: argparse.Namespace) -> int:
    specs = dataset_specs(args)
    check_numbers(args)
    check_regressor(args)
    settings = make_settings(args, specs)

    import torch

    from learning.mixed.annotations import DatasetError
    from learning.mixed.protocol import evaluate_splits
    from learning.models.registry import ModelUnavailable
    from manifests import SettingsMismatch
    from oracles.weights import MissingWeightsError

    if args.threads:
        torch.set_num_threads(args.threads)
    if settings.device == "auto":
        from dataclasses import replace

        settings = replace(settings, device="cuda" if torch.cuda.is_available() else "cpu")
    try:
        summary = evaluate_splits(settings, n=args.splits, first=args.first_split)
    except MissingWeightsError as error:
        from pipeline.train import describe_missing

        raise EnvironmentProblem(describe_missing(error)) from None
    except ModelUnavailable as error:
        raise EnvironmentProblem(error) from None
    except (DatasetError, SettingsMismatch) as error:
        raise UsageError(_one_line(error)) from None
    for line in summary_lines(summary, args.splits):
        print(line)
    if any(math.isnan(f["srcc"]) for f in summary.median.values()):
        say("note: a dataset has no test figure (too few test images); give it more images or other fractions")
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.list_adapters:
        print(describe_adapters())
        return EXIT_OK
    return run_command(lambda: run(args))


if __name__ == "__main__":
    raise SystemExit(main())
