"""Reading the label files IQA datasets ship: CSV/TSV/TXT, Excel .xlsx (with openpyxl, optional: a CSV
export of the sheet works without it; save an .xls as CSV) and MATLAB .mat files."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from learning.mixed.annotations import DatasetError


def read_rows(path: Path, sheet: str | None = None) -> list[list[Any]]:
    """Every row of a table file, cells as read (strings from text files; numbers from Excel)."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        return _xlsx_rows(path, sheet)
    if suffix == ".xls":
        raise DatasetError(f"{path.name} is an old Excel file: save its sheet as CSV and pass that file")
    try:
        text = path.read_text(encoding="utf-8-sig", errors="replace")
    except OSError as error:
        raise DatasetError(f"cannot read {path}: {error.strerror}") from None
    lines = [line for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n") if line.strip()]
    try:
        dialect = csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=",\t;")
        return [[cell.strip() for cell in row] for row in csv.reader(lines, dialect)]
    except csv.Error:  # one column, or whitespace-separated
        return [line.split() for line in lines]


def read_records(path: Path, required: Sequence[str], sheet: str | None = None) -> list[dict[str, Any]]:
    """Rows below the first row that names every ``required`` column, as dicts (blank rows skipped)."""
    rows = read_rows(path, sheet)
    for i, row in enumerate(rows):
        header = [str(c).strip() if c is not None else "" for c in row]
        if all(name in header for name in required):
            records = []
            for values in rows[i + 1:]:
                if all(v is None or str(v).strip() == "" for v in values):
                    continue
                records.append(dict(zip(header, values)))
            return records
    raise DatasetError(f"{path} has no header row with the columns {', '.join(required)}; give the right file")


def _xlsx_rows(path: Path, sheet: str | None) -> list[list[Any]]:
    try:
        import openpyxl
    except ImportError:
        raise DatasetError(f"reading {path.name} needs openpyxl (pip install openpyxl), or save the sheet as CSV "
                           "beside it and pass that") from None
    book = openpyxl.load_workbook(path, read_only=True, data_only=True)
    try:
        pages = book[sheet] if sheet and sheet in book.sheetnames else book.worksheets[0]
        return [list(row) for row in pages.iter_rows(values_only=True)]
    finally:
        book.close()


def read_mat(path: Path, key: str) -> np.ndarray:
    """One variable of a MATLAB file (v5, as the LIVE and CLIVE releases ship them)."""
    from scipy import io

    if not path.is_file():
        raise DatasetError(f"{path} not found; it ships with the dataset's release")
    try:
        data = io.loadmat(str(path))
    except (ValueError, OSError, NotImplementedError) as error:
        raise DatasetError(f"cannot read {path} as a MATLAB file: {error}") from None
    if key not in data:
        found = ", ".join(k for k in data if not k.startswith("__"))
        raise DatasetError(f"{path} has no variable {key!r} (found: {found}); give the release's file")
    return data[key]


def mat_strings(cells: np.ndarray) -> list[str]:
    """A MATLAB cell array of strings, in any orientation, as a list."""
    out = []
    for cell in np.ravel(cells):
        value = np.ravel(cell)
        out.append(str(value[0]) if value.size else "")
    return out


def number(value: Any, where: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DatasetError(f"{where}: {value!r} is not a number; check the label file") from None


def first_existing(root: Path, names: Sequence[str], what: str) -> Path:
    for name in names:
        if (root / name).is_file():
            return root / name
    raise DatasetError(f"no {what} under {root} (looked for {', '.join(names)}); give the dataset's folder or "
                       "the file with option labels=PATH")
