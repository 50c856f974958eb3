"""Finding the weight files of the metrics that need them (LPIPS, DISTS), by the oracles' rules: a user's
``--weights-dir`` first, then torch.hub's checkpoint cache (where piq and torchvision keep them), then a
download when allowed. Offline with files missing, :func:`resolve_weights` raises ONE
:class:`MissingWeightsError` listing every missing file, its URL and the exact path to put it at, before any
metric is built and without writing anything.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Iterable

from hvs.registry import MetricSpec, WeightsFile
from oracles import weights as oracle_weights
from oracles.weights import MissingFile

# torch.hub's convention: "<name>-<first hex digits of the file's SHA-256>.<ext>"
_HASH_PREFIX = re.compile(r"-([a-f0-9]{6,})\.")


class MissingWeightsError(oracle_weights.MissingWeightsError):
    """Some metrics' weight files are not on this machine and downloading is off (or failed); each entry's
    ``oracle`` names the metrics that need the file."""

    subject = "metric"
    remedy = "or pass --weights-dir DIR holding these files by name, or run online without --offline."


def hub_checkpoints() -> Path:
    """torch.hub's checkpoint folder: where piq and torchvision look for and download these files."""
    import torch.hub

    return Path(torch.hub.get_dir()) / "checkpoints"


def candidate_paths(file: WeightsFile, weights_dir: str | Path | None = None) -> list[Path]:
    """Every path where ``file`` is looked for, in order."""
    paths = [Path(weights_dir) / file.name] if weights_dir is not None else []
    return paths + [hub_checkpoints() / file.name]


def find(file: WeightsFile, weights_dir: str | Path | None = None) -> Path | None:
    """The first existing file among :func:`candidate_paths`, else None."""
    return next((p for p in candidate_paths(file, weights_dir) if p.is_file()), None)


def needed_files(specs: Iterable[MetricSpec]) -> dict[WeightsFile, tuple[str, ...]]:
    """Each weight file the metrics need (once), with the names of the metrics that need it."""
    users: dict[WeightsFile, tuple[str, ...]] = {}
    for spec in specs:
        for file in spec.weights:
            users[file] = users.get(file, ()) + (spec.name,)
    return users


def download(file: WeightsFile, target: Path) -> Path:
    """Fetch ``file`` to ``target`` (torch.hub writes a temporary file and renames it; it checks the hash
    prefix where the name carries one)."""
    import torch.hub

    target.parent.mkdir(parents=True, exist_ok=True)
    match = _HASH_PREFIX.search(file.name)
    torch.hub.download_url_to_file(file.url, str(target), hash_prefix=match.group(1) if match else None,
                                   progress=False)
    return target


def resolve_weights(
    specs: Iterable[MetricSpec],
    weights_dir: str | Path | None = None,
    allow_download: bool = False,
) -> dict[str, Path]:
    """Map each needed weight file's name to its path, downloading missing ones when ``allow_download``
    (into ``weights_dir`` if given, else torch.hub's cache).

    Raises MissingWeightsError listing every file still missing (nothing is written when downloads are off).
    """
    found: dict[str, Path] = {}
    missing: list[MissingFile] = []
    for file, metrics in needed_files(specs).items():
        path = find(file, weights_dir)
        if path is not None:
            found[file.name] = path
            continue
        target = candidate_paths(file, weights_dir)[0]
        if not allow_download:
            missing.append(MissingFile(", ".join(metrics), file.name, file.url, target))
            continue
        try:
            found[file.name] = download(file, target)
        except Exception as exc:  # network, hash mismatch, permissions: report them all together
            reason = " ".join(str(exc).split()) or type(exc).__name__
            missing.append(MissingFile(", ".join(metrics), file.name, file.url, target,
                                       f"download failed: {reason}"))
    if missing:
        raise MissingWeightsError(missing, "some could not be obtained" if allow_download else "downloads are off")
    return found
