"""COPY text of narrow rows built in ``uint8`` matrices, with no Python object per value.

:meth:`~iwm_lab.demodata.copytext.CopyRows.render` joins ``bytes`` pieces, at 40 to 200 ns a
piece, holding the GIL throughout. When every piece of a chunk is a constant, a pick from a
pool of short values or fixed-width text, and a row is at most :data:`MAX_ROW_BYTES` wide,
this module renders it instead: each piece becomes a matrix of bytes (one row per COPY row,
left-aligned, padded) with the length used in each row; the matrices go side by side and a
mask of the used bytes compresses them, in row order, into the chunk's text. That is the
same text, byte for byte, at a fraction of the cost on narrow tables, and numpy releases the
GIL while it runs, so the thread feeding COPY is never kept waiting.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import numpy.typing as npt

ObjArray = npt.NDArray[np.object_]
Mask = npt.NDArray[np.bool_]
Bytes2D = npt.NDArray[np.uint8]
Lengths = npt.NDArray[np.int64]
# A piece as a matrix (rows by width, or one row for every row) and the bytes used per row.
Slot = tuple[Bytes2D, Lengths | int]

# Rows wider than this keep the joined pieces: padding every value of a column to its
# longest (review texts run to a kilobyte) would cost more than it saves.
MAX_ROW_BYTES = 256

# Pools as matrices, most recently used last, keyed by (id(pool), suffix); the entry keeps
# its pool alive, so the id cannot be reused while cached.
_matrices: OrderedDict[tuple[int, bytes], tuple[ObjArray, Bytes2D, Lengths]] = OrderedDict()
_widths: OrderedDict[int, tuple[ObjArray, int]] = OrderedDict()
_CACHED_POOLS = 16


def clear_cache() -> None:
    """Forget the pools turned into matrices (call when a table is done)."""
    _matrices.clear()
    _widths.clear()


def pool_width(values: ObjArray) -> int:
    """The longest value of a pool of ``bytes``, in bytes."""
    cached = _widths.get(id(values))
    if cached is not None and cached[0] is values:
        _widths.move_to_end(id(values))
        return cached[1]
    width = max((len(v) for v in values), default=0)
    _widths[id(values)] = (values, width)
    while len(_widths) > _CACHED_POOLS:
        _widths.popitem(last=False)
    return width


def _pool_matrix(values: ObjArray, suffix: bytes) -> tuple[Bytes2D, Lengths]:
    key = (id(values), suffix)
    cached = _matrices.get(key)
    if cached is not None and cached[0] is values:
        _matrices.move_to_end(key)
        return cached[1], cached[2]
    items = [value + suffix for value in values]
    lengths = np.array([len(item) for item in items], dtype=np.int64)
    width = max(int(lengths.max(initial=0)), 1)
    # Fixed-size bytes pad with NUL; the lengths say where each value really ends.
    matrix = np.array(items, dtype=f"S{width}").view(np.uint8).reshape(len(items), width)
    _matrices[key] = (values, matrix, lengths)
    while len(_matrices) > _CACHED_POOLS:
        _matrices.popitem(last=False)
    return matrix, lengths


def constant(text: bytes) -> Slot:
    """The same bytes in every row."""
    return np.frombuffer(text, dtype=np.uint8).reshape(1, len(text)), len(text)


def take(
    pool: ObjArray, index: npt.NDArray[np.integer], null: Mask | None, marker: bytes, suffix: bytes
) -> Slot:
    """``pool[index] + suffix`` per row, ``marker + suffix`` where ``null``."""
    matrix, lengths = _pool_matrix(pool, suffix)
    rows = matrix.take(index, axis=0)
    used = lengths.take(index)
    if null is None:
        return rows, used
    blank = marker + suffix
    if len(blank) > rows.shape[1]:
        wider = np.zeros((len(rows), len(blank)), dtype=np.uint8)
        wider[:, : rows.shape[1]] = rows
        rows = wider
    rows[null, : len(blank)] = np.frombuffer(blank, dtype=np.uint8)
    used[null] = len(blank)
    return rows, used


def fixed(values: Bytes2D, null: Mask | None, marker: bytes, suffix: bytes) -> Slot:
    """Fixed-width text plus ``suffix`` per row, ``marker + suffix`` where ``null``."""
    n, width = values.shape
    if null is None and not suffix:
        return values, width
    blank = marker + suffix
    full = np.empty((n, max(width + len(suffix), len(blank))), dtype=np.uint8)
    full[:, :width] = values
    full[:, width : width + len(suffix)] = np.frombuffer(suffix, dtype=np.uint8)
    if null is None:
        return full, width + len(suffix)
    used = np.full(n, width + len(suffix), dtype=np.int64)
    full[null, : len(blank)] = np.frombuffer(blank, dtype=np.uint8)
    used[null] = len(blank)
    return full, used


def join(n: int, slots: list[Slot]) -> bytes:
    """The used bytes of every slot, row after row: the chunk's text."""
    width = sum(matrix.shape[1] for matrix, _ in slots)
    text = np.empty((n, width), dtype=np.uint8)
    keep = np.empty((n, width), dtype=np.bool_)
    offset = 0
    for matrix, used in slots:
        size = matrix.shape[1]
        text[:, offset : offset + size] = matrix
        position = np.arange(size)
        if isinstance(used, int):
            keep[:, offset : offset + size] = position < used
        else:
            keep[:, offset : offset + size] = position < used[:, None]
        offset += size
    return text[keep].tobytes()
