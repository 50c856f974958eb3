"""HTML and Markdown rendering (jinja2 templates in ``templates/``), and the layout of the paper's tables 1 and 2
from the correlation rows."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from pipeline.report.paper import CITATION, PAPER_METRICS, PAPER_TITLES, paper_figures

TEMPLATES = Path(__file__).resolve().parent / "templates"
PAPER_TASKS = ("cls", "det", "ins")
TABLE_1 = ("srcc", "plcc", "krcc", "rmse")
TABLE_2 = ("srcc", "plcc", "rmse")
OURS = {"srcc": "srcc", "krcc": "krcc", "plcc": "plcc_l4", "rmse": "rmse_l4"}  # the tables' PLCC / RMSE: 4-p logistic


def number(value: Any, digits: int = 4) -> str:
    """A table cell: integers with thousands separators, floats to ``digits`` decimals, missing as a dash."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def size(value: int | None) -> str:
    if value is None:
        return "—"
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return str(value)


def seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 120:
        return f"{value:.1f} s"
    if value < 7200:
        return f"{value / 60:.1f} min"
    return f"{value / 3600:.1f} h"


def _environment() -> Any:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters.update(number=number, size=size, seconds=seconds)
    return env


def paper_tables(stats: dict[str, Any]) -> dict[str, Any]:
    """Tables 1 (composite) and 2 (accuracy, consistency) in the paper's layout: one row per metric (ours, then
    the paper's metrics this database lacks), per task our figure and the paper's."""
    rows_by_key: dict[tuple[str, str, str], dict[str, Any]] = {}
    tasks: dict[str, dict[str, Any]] = {}
    order: list[str] = []
    titles: dict[str, str] = {}
    for subset in stats["subsets"].values():
        section = subset.get("correlations")
        if not section:
            continue
        for row in section["rows"]:
            rows_by_key[(row["task"], row["label"], row["metric"])] = row
            if row["metric"] not in order:
                order.append(row["metric"])
            titles[row["metric"]] = row["title"]
            tasks[row["task"]] = {"images": section["images"], "split": section["split"]}
    import hvs

    registered = hvs.names()
    wanted = set(order) | set(PAPER_METRICS)  # registry order first (the paper's rows among them), then the rest
    order = [m for m in registered if m in wanted] + [m for m in [*order, *PAPER_METRICS] if m not in registered]
    order = list(dict.fromkeys(order))
    titles.update({m: PAPER_TITLES.get(m, hvs.get(m).title if m in registered else m)
                   for m in PAPER_METRICS if m not in titles})

    def cells(label: str, measures: tuple[str, ...]) -> list[dict[str, Any]]:
        table = []
        for metric in order:
            entry: dict[str, Any] = {"metric": metric, "title": titles[metric], "tasks": {}, "notes": set()}
            for task in PAPER_TASKS:
                ours = rows_by_key.get((task, label, metric))
                paper = paper_figures(task, label, metric)
                if ours is not None:
                    if ours["origin"] == "images manifest":
                        entry["notes"].add("images manifest")
                    if ours["negated"]:
                        entry["notes"].add("negated")
                    if ours["untrained_labels"]:
                        entry["notes"].add("untrained labels")
                entry["tasks"][task] = {m: {"ours": None if ours is None else ours.get(OURS[m]),
                                            "paper": paper.get(m)} for m in measures}
            if any(c["ours"] is not None or c["paper"] is not None
                   for t in entry["tasks"].values() for c in t.values()):
                entry["notes"] = sorted(entry["notes"])
                table.append(entry)
        return table

    return {"tasks": PAPER_TASKS, "computed": tasks, "table_1": cells("composite", TABLE_1),
            "table_2": {label: cells(label, TABLE_2) for label in ("accuracy", "consistency")},
            "table_1_measures": TABLE_1, "table_2_measures": TABLE_2,
            "manifest_psnr": any(r["origin"] == "images manifest" for r in rows_by_key.values()),
            "fits": [r for (_, _, _), r in sorted(rows_by_key.items(), key=lambda kv: (
                PAPER_TASKS.index(kv[0][0]) if kv[0][0] in PAPER_TASKS else 9, kv[0][1], order.index(kv[0][2])))]}


def render_report(stats: dict[str, Any], card_link: str | None) -> str:
    template = _environment().get_template("report.html.j2")
    return template.render(stats=stats, subsets=list(stats["subsets"].values()), tables=paper_tables(stats),
                           card_link=card_link, citation=CITATION)


def render_card(context: dict[str, Any]) -> str:
    return _environment().get_template("card.md.j2").render(**context, citation=CITATION)
