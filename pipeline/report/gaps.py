"""What a database lacks for a full report, each with the command that would add it."""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.report.tables import TASKS_OF_SUBSET, Subset

PAPER_ORACLES = {"cls": 40, "det": 20, "ins": 15}
PAPER_METRICS_COMMAND = "psnr,ssim,vsi,lpips,dists"  # the full-reference metrics of the paper's tables


@dataclass(frozen=True)
class Gap:
    subset: str
    what: str
    command: str | None = None
    severity: str = "missing"  # missing | partial | note

    def to_dict(self) -> dict[str, Any]:
        return {"subset": self.subset, "what": self.what, "command": self.command, "severity": self.severity}


def subset_gaps(name: str, subset: Subset | None, out: Path, split_given: bool) -> list[Gap]:
    where = shlex.quote(str(out))
    if subset is None:
        return [Gap(name, "not generated", f"python -m pipeline.generate --subset {name} --out {where}")]
    gaps = []
    listed = subset.plan.get("listed_sources")
    done = len(subset.sources)
    if listed is not None and listed > done:
        gaps.append(Gap(name, f"{listed - done:,} of {listed:,} listed sources not generated yet",
                        "run the same python -m pipeline.generate command again", "partial"))
    failed_sources, failed_images = int((subset.sources.status != "ok").sum()), sum(subset.images.failed.values())
    if failed_sources or failed_images:
        gaps.append(Gap(name, f"{failed_sources:,} sources and {failed_images:,} images failed (reasons under "
                              "Failures)",
                        "the same python -m pipeline.generate command with --retry-failed", "partial"))
    for task in TASKS_OF_SUBSET[name]:
        scored = [o for o in subset.oracles if o.task == task]
        labels = subset.labels.get(task)
        score = f"python -m pipeline.score --models {task} --out {where}"
        if not scored:
            gaps.append(Gap(name, f"no {task} oracle has scored this subset: no {task} labels", score))
            continue
        if labels is None:
            gaps.append(Gap(name, f"{task} predictions exist but no labels were computed",
                            f"{score} --labels-only"))
            continue
        members = len(labels.record.get("oracles", []))
        if members < PAPER_ORACLES[task]:
            gaps.append(Gap(name, f"{task} labels aggregate {members} oracle(s); the paper's used "
                                  f"{PAPER_ORACLES[task]}", score, "note"))
        pending = int(subset.images.count - labels.labelled.sum())
        if pending:
            gaps.append(Gap(name, f"{pending:,} images have no {task} labels yet (pending shards)", score, "partial"))
        if labels.untrained:
            gaps.append(Gap(name, f"{task} labels come from random-weight (untrained) oracles: plumbing only, "
                                  "not machine quality", f"{score} (without --untrained)"))
    metrics = f"python -m pipeline.metrics --out {where} --metrics {PAPER_METRICS_COMMAND}"
    if not subset.metrics:
        gaps.append(Gap(name, "no HVS metric tables: correlation tables use the generation's PSNR only", metrics))
    else:
        absent = [m for m in PAPER_METRICS_COMMAND.split(",") if m not in subset.metrics]
        if absent:
            gaps.append(Gap(name, f"the paper's metrics {', '.join(absent)} are not computed", metrics, "partial"))
        for metric in subset.metrics.values():
            if metric.computed < subset.images.count:
                gaps.append(Gap(name, f"{metric.name}: {subset.images.count - metric.computed:,} images without a "
                                      "value", metrics, "partial"))
    if not split_given and subset.labels:
        release = "miqa_cls_val.csv" if name == "cls" else "miqa_det_val.csv"
        gaps.append(Gap(name, "no test split given: the correlation tables use every labelled image (the paper "
                              "used its test split)",
                        f"python -m pipeline.report {where} --test-split {name}={release}", "note"))
    return gaps
