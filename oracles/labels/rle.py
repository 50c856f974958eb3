"""Exact mask IoU of COCO run-length encodings, equal to ``pycocotools.mask.iou`` and several times faster.

pycocotools decodes every compressed string again at each ``iou`` call, then walks the whole run lists of
every pair whose boxes overlap, with a data-dependent branch per run. Here a set of masks is decoded once
(:class:`MaskSet`; one ground truth can serve the detections on 250 degraded images) into pieces (the rows
a mask covers in one column), a column index, areas and boxes. A pair's intersection is counted over the
columns both masks cover only: for two regular masks (one piece per column, as most object masks are)
without a data-dependent branch, which the compiler vectorises; otherwise by merging the pieces of each
column. With a ``floor`` (COCOeval's lowest IoU threshold), pairs that cannot reach it by their areas and
boxes are not counted at all.

The value is pycocotools' own: the intersection ``i`` and the union ``u`` are exact pixel counts (for a
crowd ground truth ``u`` is the detection's area) and ``iou = i / u`` in double precision, 0 where
``i == 0``. The loops are compiled with numba and cached on disk after the first call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numba
import numpy as np

__all__ = ["MaskSet", "mask_iou"]


@numba.njit(cache=True, nogil=True)
def _decode(text: np.ndarray, n: int, height: int, width: int) -> tuple:
    """pycocotools' rleFrString on n strings, each ended by a newline, straight into column pieces.

    A count is 5-bit groups of characters 48 + value, least significant first, with bit 0x20 for "more" and
    0x10 as the sign of the last group; counts from the fourth on are stored as differences to the count
    two before. Runs alternate 0 and 1, starting with 0, down the columns. Each on-run is cut at column
    breaks into pieces (rows ``tops[q]`` to ``bottoms[q]``, exclusive), in column order. Per mask r:
    ``info[r]`` = (first column, last column, first row, last row, area, offset of its column index,
    regular), -1 where empty; its column index ``columns[offset + c - first column]`` is the first piece of
    column c, and the entry after its last column ends its pieces. A mask is regular when every column in
    its range has exactly one piece (most object masks). Returns those arrays and the first mask whose
    string is not a height x width RLE (-1 if none).
    """
    counts = np.empty(text.size + 1, np.int64)  # one mask's counts: a character per count at least
    # pieces: an on-run per 2+ characters, plus one per column break it crosses; (only the used part of
    # these worst-case buffers is ever touched; growing them in the loops would slow the loops sevenfold)
    tops = np.empty(text.size // 2 + n * width + 1, np.int64)
    bottoms = np.empty_like(tops)
    columns = np.empty(n * (width + 1) + 1, np.int64)
    info = np.full((n, 7), -1, np.int64)
    breaks = np.flatnonzero(text == 10)
    if breaks.size != n:
        return tops, bottoms, columns, info, min(breaks.size, n - 1)
    q = 0  # pieces so far
    offset = 0  # column index entries so far
    for r in range(n):
        m = 0  # decode this mask's counts first: two tight loops beat one branchy one
        p = breaks[r - 1] + 1 if r else 0
        end = breaks[r]
        prev2, prev1 = np.int64(0), np.int64(0)  # the counts two and one before
        while p < end:
            ch = np.int64(text[p]) - 48
            if (ch & 0x20) == 0:  # one character (most counts: small differences)
                x = (ch & 0x1F) - ((ch & 0x10) << 1)
                p += 1
            else:
                if ch & ~63:
                    return tops, bottoms, columns, info, r
                x = ch & 0x1F
                scale = np.int64(32)
                p += 1
                while True:
                    if p == end:  # the string ends inside a count
                        return tops, bottoms, columns, info, r
                    ch = np.int64(text[p]) - 48
                    p += 1
                    x += (ch & 0x1F) * scale
                    scale *= 32
                    if (ch & 0x20) == 0:
                        break
                    if ch & ~63:
                        return tops, bottoms, columns, info, r
                if ch & 0x10:
                    x -= scale  # x | (-1 << 5k) for x < 2**5k
            if ch & ~63:  # outside the alphabet
                return tops, bottoms, columns, info, r
            if m > 2:
                x += prev2
            counts[m] = x
            m += 1
            prev2, prev1 = prev1, x
        # the runs, down the columns, keeping (column, row): a division only for jumps over columns
        pos, col, row = np.int64(0), np.int64(0), np.int64(0)
        first_col, cur_col, top, bottom, area = np.int64(-1), np.int64(-1), height, np.int64(-1), np.int64(0)
        gaps = False
        first_piece = q
        for i in range(m):
            c = counts[i]
            if c < 0 or pos + c > height * width:
                return tops, bottoms, columns, info, r
            pos += c
            if i & 1 and c > 0:  # an on-run: a piece per column it touches
                area += c
                top = min(top, row)
                while c > 0:
                    take = min(c, height - row)
                    if col != cur_col:  # the first piece of this column: index it (and any empty ones)
                        if first_col < 0:
                            first_col = col
                            cur_col = col - 1
                        gaps |= col > cur_col + 1
                        for cc in range(cur_col + 1, col + 1):
                            columns[offset + cc - first_col] = q
                        cur_col = col
                    tops[q] = row
                    bottoms[q] = row + take
                    q += 1
                    bottom = max(bottom, row + take - 1)
                    c -= take
                    row += take
                    if row == height:
                        row = 0
                        col += 1
            else:
                row += c
                if row >= height:
                    if row < 2 * height:
                        row -= height
                        col += 1
                    else:
                        col += row // height
                        row %= height
        if pos != height * width:
            return tops, bottoms, columns, info, r
        if first_col >= 0:
            ncols = cur_col - first_col + 1
            columns[offset + ncols] = q
            regular = not gaps and q - first_piece == ncols
            info[r, 0], info[r, 1], info[r, 2], info[r, 3] = first_col, cur_col, top, bottom
            info[r, 4], info[r, 5], info[r, 6] = area, offset, regular
            offset += ncols + 1
        else:
            info[r, 4] = 0
    return tops[:q], bottoms[:q], columns[:offset], info, -1


@numba.njit(cache=True, nogil=True)
def _columnwise(a_top, a_bottom, a, b_top, b_bottom, b, n) -> int:
    """Pixels in both of two regular masks over n common columns, from their pieces a and b in the first
    one: column by column, without a data-dependent branch (the compiler vectorises it)."""
    inter = 0
    for t in range(n):
        inter += max(min(a_bottom[a + t], b_bottom[b + t]) - max(a_top[a + t], b_top[b + t]), 0)
    return inter


@numba.njit(cache=True, nogil=True)
def _by_column(a_top, a_bottom, a_cols, a_at, b_top, b_bottom, b_cols, b_at, n) -> int:
    """Pixels in both of two masks over n common columns, whose column index entries start at a_at and
    b_at: the pieces of each column merged as two sorted lists of disjoint spans."""
    inter = 0
    for t in range(n):
        i, i_end = a_cols[a_at + t], a_cols[a_at + t + 1]
        j, j_end = b_cols[b_at + t], b_cols[b_at + t + 1]
        while i < i_end and j < j_end:
            inter += max(min(a_bottom[i], b_bottom[j]) - max(a_top[i], b_top[j]), 0)
            if a_bottom[i] < b_bottom[j]:
                i += 1
            else:
                j += 1
    return inter


@numba.njit(cache=True, nogil=True)
def _iou(dt: tuple, gt: tuple, d_key: np.ndarray, g_key: np.ndarray, g_crowd: np.ndarray, floor: float):
    d_top, d_bottom, d_cols, d_info = dt
    g_top, g_bottom, g_cols, g_info = gt
    out = np.zeros((d_info.shape[0], g_info.shape[0]))
    for d in range(d_info.shape[0]):
        d_area = d_info[d, 4]
        if d_area == 0:
            continue
        for g in range(g_info.shape[0]):
            g_area = g_info[g, 4]
            if d_key[d] != g_key[g] or g_area == 0:
                continue
            c0 = max(d_info[d, 0], g_info[g, 0])
            cols = min(d_info[d, 1], g_info[g, 1]) - c0 + 1
            rows = min(d_info[d, 3], g_info[g, 3]) - max(d_info[d, 2], g_info[g, 2]) + 1
            if cols <= 0 or rows <= 0:
                continue  # boxes apart
            # the IoU with the most intersection possible: below the floor, the pair is left at 0
            most = min(d_area, g_area, cols * rows)
            if g_crowd[g]:
                if np.float64(most) / np.float64(d_area) < floor:
                    continue
            elif np.float64(most) / np.float64(d_area + g_area - most) < floor:
                continue
            d_at = d_info[d, 5] + c0 - d_info[d, 0]
            g_at = g_info[g, 5] + c0 - g_info[g, 0]
            if d_info[d, 6] and g_info[g, 6]:
                i = _columnwise(d_top, d_bottom, d_cols[d_at], g_top, g_bottom, g_cols[g_at], cols)
            else:
                i = _by_column(d_top, d_bottom, d_cols, d_at, g_top, g_bottom, g_cols, g_at, cols)
            if i == 0:
                continue
            u = d_area if g_crowd[g] else d_area + g_area - i
            out[d, g] = np.float64(i) / np.float64(u)
    return out


def _joined_counts(rles: list) -> np.ndarray:
    """The masks' counts strings, each ended by a newline, as one byte array."""
    texts = [r["counts"] for r in rles]
    try:
        return np.frombuffer(b"\n".join(texts) + b"\n", np.uint8)
    except TypeError:  # str counts (as from JSON), or something else
        pass
    if not all(isinstance(t, (str, bytes)) for t in texts):
        raise ValueError("MaskSet takes compressed RLEs (counts as a string); convert with oracles.labels.ap.to_rle")
    texts = [t.encode("ascii") if isinstance(t, str) else t for t in texts]
    return np.frombuffer(b"\n".join(texts) + b"\n", np.uint8)


@dataclass(frozen=True, eq=False)
class MaskSet:
    """Compressed COCO RLE masks of one image size, decoded once (see the module; treat the arrays as
    read-only)."""

    height: int
    width: int
    arrays: tuple  # tops, bottoms, columns, info (see _decode)

    def __len__(self) -> int:
        return self.areas.size

    @property
    def areas(self) -> np.ndarray:
        """Pixel counts (int64), as ``pycocotools.mask.area``."""
        return self.arrays[3][:, 4]

    @classmethod
    def from_rles(cls, rles: Sequence[Mapping[str, Any]], size: Sequence[int] | None = None) -> "MaskSet":
        """Decode compressed RLE dicts (``{"size": [h, w], "counts": str | bytes}``), all of one size.

        ``size`` (h, w), when given, is checked too, and is required when ``rles`` is empty. Raises
        ValueError on a mixed size or a string that does not describe an h x w mask.
        """
        rles = list(rles)
        sizes = [list(size)] if size is not None else []
        sizes += [r["size"] for r in rles]
        if not sizes:
            raise ValueError("no masks and no size")
        height, width = (int(v) for v in sizes[0])
        if sizes.count(sizes[0]) != len(sizes):  # list equality in C: the common case stays cheap
            distinct = {(int(h), int(w)) for h, w in sizes}
            if len(distinct) > 1:
                raise ValueError(f"masks of several sizes: {sorted(distinct)}")
        text = _joined_counts(rles)
        *arrays, bad = _decode(text, len(rles), max(height, 1), width)
        if bad >= 0:
            raise ValueError(f"RLE {bad}: its counts string does not describe a {height} x {width} mask "
                             "(a truncated string, a character outside the RLE alphabet, a negative run or "
                             "a wrong size)")
        return cls(height, width, tuple(arrays))


def mask_iou(
    dt: MaskSet,
    gt: MaskSet,
    iscrowd: Sequence[bool] | np.ndarray,
    dt_keys: np.ndarray | None = None,
    gt_keys: np.ndarray | None = None,
    floor: float = 0.0,
) -> np.ndarray:
    """(len(dt), len(gt)) IoU, bit-identical to ``pycocotools.mask.iou(dt, gt, iscrowd)``.

    With ``dt_keys`` and ``gt_keys`` (int arrays, e.g. category indices) only pairs of equal keys are
    computed; the others are 0, as COCOeval never compares across categories. With a ``floor`` > 0, a pair
    whose IoU is below it for certain (from the areas and boxes) is left at 0 without being computed:
    COCOeval's matching never looks at an IoU below its lowest threshold.
    """
    if (dt.height, dt.width) != (gt.height, gt.width):
        raise ValueError(f"detection masks are {dt.height}x{dt.width}, ground truth {gt.height}x{gt.width}")
    crowd = np.asarray(iscrowd, bool).reshape(-1)
    if crowd.size != len(gt):
        raise ValueError(f"iscrowd has {crowd.size} entries for {len(gt)} ground-truth masks")
    d_key = np.zeros(len(dt), np.int64) if dt_keys is None else np.asarray(dt_keys, np.int64)
    g_key = np.zeros(len(gt), np.int64) if gt_keys is None else np.asarray(gt_keys, np.int64)
    if d_key.shape != (len(dt),) or g_key.shape != (len(gt),):
        raise ValueError("dt_keys and gt_keys need one entry per mask")
    return _iou(dt.arrays, gt.arrays, d_key, g_key, crowd, float(floor))
