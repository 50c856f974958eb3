"""Training one regressor on a mix of datasets: MIMI or a baseline, checkpointed and resumable.

    from learning.mixed import DatasetSpec, MixedSettings, train_mixed
    run = train_mixed(MixedSettings(datasets=(DatasetSpec.parse("cls=out:composite"),
                                              DatasetSpec.parse("kadid10k=/data/kadid10k")), out="runs/mix"))
    run.metrics["test"]["kadid10k"]["srcc"], run.weighted["test"]["srcc"]

Every step takes one mini-batch of every dataset (small sets cycle); the regressor sees them as one batch
and the method's loss compares the proxies with the normalised annotations. An epoch is one pass over the
largest training set unless ``steps_per_epoch`` says otherwise. Adam (the backbone at ``backbone_lr_factor``
times the learning rate), StepLR per epoch, validation after each epoch (size-weighted SRCC of the proxy
over the datasets' val splits) keeps the best weights; the test figures come from them.

The run folder holds settings.json (the settings that change results, and a digest of each dataset's
files, annotations and splits: a run never resumes on other data), last.pt (model, optimiser,
scheduler, step, torch's RNG state, written atomically every ``checkpoint_every`` steps and at each epoch's
end), best.pt, predictions.parquet (every item's proxy, annotation and split) and results.json. The same
call resumes a killed run from last.pt and reaches the result of an uninterrupted one: what a step draws
(items, crops, flips) depends on its number only.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from learning.mixed.adapters import DatasetSpec
from learning.mixed.data import MixedData, SplitSettings, load_mix
from learning.mixed.inputs import InputSettings
from learning.mixed.methods import LossSettings, MinnSettings
from learning.mixed.regressors import RegressorSettings

# settings a resumed run may change: none changes what a run computes, except the device (rounding only)
RUN_NEUTRAL = ("progress", "device", "checkpoint_every", "inputs.num_workers", "inputs.eval_batch_size",
               "inputs.feature_cache", "regressor.weights_dir", "regressor.allow_download")  # fmt: skip
FIGURES = ("srcc", "krcc", "plcc", "plcc_l4", "plcc_l5", "n")


@dataclass(frozen=True)
class OptimSettings:
    lr: float = 6e-4
    backbone_lr_factor: float = 0.1
    weight_decay: float = 0.0
    epochs: int = 30
    step_size: int = 5  # StepLR: every step_size epochs ...
    gamma: float = 0.8  # ... the learning rates are multiplied by gamma


@dataclass(frozen=True)
class MixedSettings:
    datasets: tuple[DatasetSpec, ...]
    out: str
    method: str = "mimi"  # mimi | monotone | naive | pairwise
    regressor: RegressorSettings = field(default_factory=RegressorSettings)
    minn: MinnSettings = field(default_factory=MinnSettings)
    loss: LossSettings = field(default_factory=LossSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    inputs: InputSettings = field(default_factory=InputSettings)
    split: SplitSettings = field(default_factory=SplitSettings)
    batch_size: int = 16  # per dataset and step, unless a DatasetSpec sets its own
    steps_per_epoch: int | None = None  # None: one pass over the largest training set
    seed: int = 19901116  # the authors' seed
    device: str = "cpu"
    checkpoint_every: int = 200
    progress: bool = True

    def comparable(self) -> dict[str, Any]:
        """The settings that change results (what settings.json records and a resume must match)."""
        data = json.loads(json.dumps(asdict(self)))
        for key in RUN_NEUTRAL:
            head, _, tail = key.partition(".")
            (data[head] if tail else data).pop(tail or head, None)
        return data


@dataclass(frozen=True)
class MixedRun:
    out: Path
    metrics: dict[str, dict[str, dict[str, float]]]  # split -> dataset -> figure
    weighted: dict[str, dict[str, float]]  # split -> figure, averaged over datasets weighted by their sizes
    best_epoch: int
    predictions: Path

    @classmethod
    def read(cls, out: Path) -> "MixedRun":
        results = json.loads((out / "results.json").read_text())
        return cls(out, results["metrics"], results["weighted"], results["best_epoch"], out / "predictions.parquet")


def _validate(settings: MixedSettings) -> None:
    from learning.mixed.methods import METHODS
    from learning.mixed.regressors import REGRESSORS, regressor_names

    if settings.method not in METHODS:
        raise ValueError(f"unknown method {settings.method!r}; known: {', '.join(METHODS)}")
    if settings.regressor.name not in regressor_names():
        raise ValueError(f"unknown regressor {settings.regressor.name!r}; known: {', '.join(regressor_names())}")
    if settings.regressor.freeze_backbone and settings.regressor.name in REGRESSORS:
        raise ValueError(f"freeze_backbone is for registry models, not {settings.regressor.name}")
    if settings.optim.epochs < 1 or settings.batch_size < 1 or settings.checkpoint_every < 1:
        raise ValueError("epochs, batch_size and checkpoint_every must be at least 1")
    if settings.steps_per_epoch is not None and settings.steps_per_epoch < 1:
        raise ValueError("steps_per_epoch must be at least 1 (or None)")


def dataset_figures(proxy: np.ndarray, annotation: np.ndarray) -> dict[str, float]:
    """SRCC, KRCC, PLCC raw and after the logistic fits that have fewer parameters than there are points."""
    from learning.correlation import FITS, agreement

    parameters = {"logistic4": 4, "logistic5": 5}
    figures = agreement(proxy, annotation, fits=tuple(f for f in FITS if len(proxy) > parameters[f]))
    return {f: float(figures.get(f, math.nan)) for f in FIGURES}


def weighted_average(per_dataset: dict[str, dict[str, float]], sizes: dict[str, int]) -> dict[str, float]:
    """Each figure averaged over the datasets where it is defined, weighted by dataset size."""
    out = {}
    for figure in FIGURES[:-1]:
        pairs = [(v[figure], sizes[k]) for k, v in per_dataset.items() if not math.isnan(v.get(figure, math.nan))]
        out[figure] = sum(a * w for a, w in pairs) / sum(w for _, w in pairs) if pairs else math.nan
    return out


def train_mixed(settings: MixedSettings, on_step: Callable[[int, dict[str, float]], None] | None = None) -> MixedRun:
    """Train (or resume, or just read back) the run of ``settings`` in ``settings.out``; ``on_step(step,
    loss parts)`` is called after every optimiser step."""
    import torch

    from manifests.settings import check_settings

    _validate(settings)
    data = load_mix(settings.datasets, settings.split)
    out = Path(settings.out)
    out.mkdir(parents=True, exist_ok=True)
    check_settings(out / "settings.json", {**settings.comparable(), "data": data.fingerprints()})
    trainer = _Trainer(settings, data, out, torch.device(settings.device))
    if (out / "results.json").is_file() and trainer.finished():
        return MixedRun.read(out)
    trainer.fit(on_step)
    return trainer.finish()


class _Trainer:
    def __init__(self, settings: MixedSettings, data: MixedData, out: Path, device) -> None:
        import torch

        from learning.mixed.methods import build_method
        from learning.mixed.regressors import build_regressor
        from learning.mixed.sampler import CyclingSampler
        from learning.mixed.seeds import stable_seed

        self.settings, self.data, self.out, self.device = settings, data, out, device
        k_count = len(data.sets)
        torch.manual_seed(stable_seed(settings.seed, "init"))
        self.regressor = build_regressor(settings.regressor, settings.inputs.crop)
        self.method = build_method(settings.method, k_count, [s.weight for s in data.specs], settings.loss,
                                   settings.minn)
        self.model = torch.nn.ModuleDict({"regressor": self.regressor, "method": self.method}).to(device)
        self.samplers = [CyclingSampler(len(data.indices(k, "train")), spec.batch_size or settings.batch_size,
                                        settings.seed, spec.name) for k, spec in enumerate(data.specs)]
        self.steps_per_epoch = settings.steps_per_epoch or max(s.steps_per_pass() for s in self.samplers)
        self.total_steps = self.steps_per_epoch * settings.optim.epochs
        self.bounds = torch.as_tensor(data.bounds(), dtype=torch.float32, device=device)
        self.features = self._features() if self._cached() else None
        backbone = self.regressor.trainable_backbone()
        backbone_ids = {id(p) for p in backbone}
        rest = [p for p in self.model.parameters() if p.requires_grad and id(p) not in backbone_ids]
        groups = [{"params": rest, "lr": settings.optim.lr}]
        if backbone:
            groups.append({"params": backbone, "lr": settings.optim.lr * settings.optim.backbone_lr_factor})
        self.optimizer = torch.optim.Adam(groups, weight_decay=settings.optim.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, settings.optim.step_size,
                                                         settings.optim.gamma)
        self.step, self.best_score, self.best_epoch, self.history = 0, -math.inf, -1, []
        self.epoch_sums: dict[str, float] = {}  # loss parts summed over the current epoch's steps
        torch.manual_seed(stable_seed(settings.seed, "train"))
        self._resume()

    # --- inputs --------------------------------------------------------------------------------------

    def _cached(self) -> bool:
        return self.regressor.frozen is not None and self.settings.inputs.cache_features

    def _features(self):
        from learning.mixed.inputs import cached_features

        folder = Path(self.settings.inputs.feature_cache or self.out / "features")
        regressor = self.settings.regressor
        extractor = f"{regressor.name}:{regressor.weights_dir or ''}"
        if regressor.name != "frozen-lite0" and not regressor.pretrained:  # random weights drawn from the seed
            extractor += f":random-{self.settings.seed}"
        return [cached_features(self.regressor.embed, extractor, s.paths(), self.settings.inputs, folder,
                                self.device, name, self.settings.progress)
                for name, s in zip(self.data.names, self.data.sets)]

    def _steps(self):
        from learning.mixed.inputs import FeatureSteps, ImageSteps

        train = [self.data.indices(k, "train") for k in range(len(self.data.sets))]
        targets = [self.data.targets(k)[idx] for k, idx in enumerate(train)]
        if self.features is not None:
            return FeatureSteps([f[idx] for f, idx in zip(self.features, train)], targets, self.samplers)
        paths = [[s.paths()[i] for i in idx] for s, idx in zip(self.data.sets, train)]
        return ImageSteps(paths, targets, self.samplers, self.settings.inputs, self.settings.seed)

    def _proxies_of(self, inputs):
        return self.regressor.head(inputs)[:, 0] if self.features is not None else self.regressor(inputs)

    def predict(self, k: int, indices: np.ndarray) -> np.ndarray:
        """The proxy score of items ``indices`` of dataset k (evaluation view)."""
        import torch
        from torch.utils.data import DataLoader

        from learning.mixed.inputs import EvalImages

        if len(indices) == 0:
            return np.empty(0)
        self.model.eval()
        batch = self.settings.inputs.eval_batch_size
        if self.features is not None:
            batches = [self.features[k][indices[i: i + batch]] for i in range(0, len(indices), batch)]
        else:
            paths = self.data.sets[k].paths()
            batches = DataLoader(EvalImages([paths[i] for i in indices], self.settings.inputs), batch_size=batch,
                                 num_workers=self.settings.inputs.num_workers)
        with torch.no_grad():
            out = np.concatenate([self._proxies_of(b.to(self.device)).float().cpu().numpy() for b in batches])
        self.model.train()
        return out

    # --- checkpoints ---------------------------------------------------------------------------------

    def _save(self, name: str, payload: dict) -> None:
        import torch

        from manifests.atomic import replace_atomically

        replace_atomically(self.out / name, lambda temporary: torch.save(payload, temporary))

    def _checkpoint(self) -> None:
        import torch

        self._save("last.pt", {
            "step": self.step, "model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(), "torch_rng": torch.get_rng_state(),
            "best_score": self.best_score, "best_epoch": self.best_epoch, "history": self.history,
            "epoch_sums": self.epoch_sums,
        })  # fmt: skip

    def _resume(self) -> None:
        import torch

        path = self.out / "last.pt"
        if not path.is_file():
            return
        state = torch.load(path, map_location=self.device, weights_only=True)
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"].cpu())
        self.step, self.best_score, self.best_epoch = state["step"], state["best_score"], state["best_epoch"]
        self.history, self.epoch_sums = state["history"], state["epoch_sums"]

    def finished(self) -> bool:
        return self.step >= self.total_steps

    # --- training ------------------------------------------------------------------------------------

    def fit(self, on_step) -> None:
        import torch
        from tqdm import tqdm

        from learning.mixed.inputs import steps_loader

        if self.finished():
            return
        self.model.train()
        workers = 0 if self.features is not None else self.settings.inputs.num_workers
        loader = steps_loader(self._steps(), self.step, self.total_steps, workers)
        with tqdm(total=self.total_steps, initial=self.step, desc=f"train {self.settings.method}", unit="step",
                  disable=not self.settings.progress) as bar:
            for batches in loader:
                inputs = torch.cat([x for x, _ in batches]).to(self.device)
                proxies = list(torch.split(self._proxies_of(inputs), [len(x) for x, _ in batches]))
                targets = [t.to(self.device) for _, t in batches]
                loss = self.method.loss(proxies, targets, self.bounds)
                self.optimizer.zero_grad(set_to_none=True)
                loss.total.backward()
                self.optimizer.step()
                self.step += 1
                for key, value in loss.parts.items():
                    self.epoch_sums[key] = self.epoch_sums.get(key, 0.0) + value
                bar.update(1)
                bar.set_postfix(loss=f"{loss.total.item():.4f}", epoch=(self.step - 1) // self.steps_per_epoch + 1)
                if self.step % self.steps_per_epoch == 0:
                    self._end_epoch()
                elif self.step % self.settings.checkpoint_every == 0:
                    self._checkpoint()
                if on_step is not None:
                    on_step(self.step, loss.parts)

    def _end_epoch(self) -> None:
        from learning.correlation import srcc

        epoch = self.step // self.steps_per_epoch
        val = {}
        for k, name in enumerate(self.data.names):
            idx = self.data.indices(k, "val")
            val[name] = {"srcc": srcc(self.predict(k, idx), self.data.sets[k].scores[idx]) if len(idx) else math.nan}
        score = weighted_average(val, dict(zip(self.data.names, self.data.sizes())))["srcc"]
        self.history.append({"epoch": epoch, "lr": self.optimizer.param_groups[0]["lr"], "val_srcc": score,
                             **{f"loss_{k}": v / self.steps_per_epoch for k, v in self.epoch_sums.items()}})
        self.epoch_sums = {}
        self.scheduler.step()
        no_validation = math.isnan(score)
        if no_validation or score > self.best_score:
            self.best_score, self.best_epoch = (-math.inf if no_validation else score), epoch
            self._save("best.pt", {"model": self.model.state_dict(), "epoch": epoch, "val_srcc": score})
        self._checkpoint()

    # --- results -------------------------------------------------------------------------------------

    def finish(self) -> MixedRun:
        import torch

        from manifests.settings import write_json_atomic

        best = self.out / "best.pt"
        if best.is_file():
            self.model.load_state_dict(torch.load(best, map_location=self.device, weights_only=True)["model"])
        columns: dict[str, list] = {c: [] for c in ("dataset", "file", "group", "split", "annotation", "target",
                                                    "proxy")}
        metrics: dict[str, dict[str, dict[str, float]]] = {"val": {}, "test": {}}
        sizes = dict(zip(self.data.names, self.data.sizes()))
        started = time.perf_counter()
        for k, (name, dataset) in enumerate(zip(self.data.names, self.data.sets)):
            everything = np.arange(len(dataset))
            proxy = self.predict(k, everything)
            columns["dataset"] += [name] * len(dataset)
            columns["file"] += list(dataset.files)
            columns["group"] += list(dataset.groups)
            columns["split"] += list(self.data.splits[k])
            columns["annotation"] += dataset.scores.tolist()
            columns["target"] += self.data.targets(k).tolist()
            columns["proxy"] += proxy.tolist()
            for split, figures in metrics.items():
                idx = self.data.indices(k, split)
                figures[name] = dataset_figures(proxy[idx], dataset.scores[idx])
        weighted = {split: weighted_average(metrics[split], sizes) for split in metrics}
        self._write_predictions(columns)
        results = {
            "metrics": metrics, "weighted": weighted, "best_epoch": self.best_epoch, "steps": self.step,
            "steps_per_epoch": self.steps_per_epoch, "history": self.history, "sizes": sizes,
            "split_counts": {n: {s: int((self.data.splits[k] == s).sum()) for s in ("train", "val", "test")}
                             for k, n in enumerate(self.data.names)},
            "normalisation": {n: {"low": sc.low, "high": sc.high, "scale": list(self.data.sets[k].scale),
                                  "normalised_scale": self.data.bounds()[k].tolist()}
                              for k, (n, sc) in enumerate(zip(self.data.names, self.data.scales))},
            "seeds": {"seed": self.settings.seed, "split_seed": self.settings.split.seed,
                      "split_index": self.settings.split.index},
            "evaluation_seconds": time.perf_counter() - started,
        }  # fmt: skip
        write_json_atomic(self.out / "results.json", results)
        return MixedRun.read(self.out)

    def _write_predictions(self, columns: dict[str, list]) -> None:
        import pyarrow as pa

        from manifests.store import write_atomic

        write_atomic(self.out / "predictions.parquet", pa.table(columns))
