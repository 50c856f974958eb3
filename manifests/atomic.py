"""Files that appear whole or not at all: write under a temporary name, then rename into place."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Callable

TEMPORARY_SUFFIX = ".tmp"


def temporary_name(path: Path) -> Path:
    """Hidden (readers such as pyarrow skip it) and fixed, so a retry overwrites a crashed attempt's file."""
    return path.with_name(f".{path.name}{TEMPORARY_SUFFIX}")


def replace_atomically(path: Path, write: Callable[[Path], object]) -> None:
    """``write(temporary)``, then rename onto ``path``: readers see the old file or the new one."""
    temporary = temporary_name(path)
    write(temporary)
    os.replace(temporary, path)


def write_bytes_atomic(path: Path, data: bytes) -> None:
    replace_atomically(path, lambda temporary: temporary.write_bytes(data))


def copy_atomic(source: Path, target: Path) -> None:
    replace_atomically(target, lambda temporary: shutil.copyfile(source, temporary))
