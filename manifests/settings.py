"""The settings a manifest was made with: a run whose settings differ refuses to mix with it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping

from manifests.atomic import write_bytes_atomic


class SettingsMismatch(RuntimeError):
    """The existing manifests were made with other settings."""


def settings_differences(old: Mapping[str, Any], new: Mapping[str, Any], prefix: str = "") -> list[str]:
    lines = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, "<unset>"), new.get(key, "<unset>")
        if isinstance(a, Mapping) and isinstance(b, Mapping):
            lines += settings_differences(a, b, f"{prefix}{key}.")
        elif a != b:
            lines.append(f"{prefix}{key}: existing {json.dumps(a)}, requested {json.dumps(b)}")
    return lines


def check_settings(path: Path, settings: Mapping[str, Any]) -> bool:
    """Record ``settings`` at ``path`` on first use; later, raise SettingsMismatch if they differ.

    Returns True when the file was created by this call.
    """
    normalised = json.loads(json.dumps(settings, sort_keys=True))
    if path.exists():
        existing = json.loads(path.read_text())
        differences = settings_differences(existing, normalised)
        if differences:
            raise SettingsMismatch(
                f"{path.parent} holds a run made with other settings; use another output folder or the "
                "same settings. Differences: " + "; ".join(differences)
            )
        return False
    write_json_atomic(path, normalised)
    return True


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(path, (json.dumps(data, indent=2, sort_keys=True) + "\n").encode("utf-8"))
