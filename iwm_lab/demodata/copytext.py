"""Numpy columns to PostgreSQL ``COPY ... FROM STDIN`` text, fast enough to keep COPY busy.

Formatting is the loader's bottleneck, so no Python code runs per row or per value:

* Non-null numbers, booleans, timestamps and fixed-width codes of a chunk go into one
  ``uint8`` matrix, numbers right-aligned with spaces (PostgreSQL's input functions skip
  surrounding whitespace).
* Text columns are concatenations of pieces: constants, picks from pools by index
  (:class:`Take`) or fixed-width text (:class:`Matrix`).
* :meth:`CopyRows.render` turns every piece into an Arrow binary array (the fixed-width
  matrix and :class:`Matrix` pieces without a copy, each pool once per table, a pick with
  Arrow's ``take``) and concatenates them row by row with ``binary_join_element_wise``:
  the joined array's data buffer is the chunk's COPY text. Arrow's kernels run in C++
  without the GIL, at 2 to 5 times the speed of joining ``bytes`` objects in Python.

The separator after a column rides on its last piece (in the pool of a :class:`Take`), and
one piece may carry several adjacent columns (:meth:`CopyRows.text` with a tuple of names),
so the pieces per row stay few. Fixed-width columns come first in the COPY column list
(:attr:`CopyRows.columns`), whatever order the caller adds them in. Values must never
contain tab, newline or backslash; the tests check the pools of :mod:`.vocab` for that.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence, Sized
from functools import cache

import numpy as np
import numpy.typing as npt
import pyarrow as pa
import pyarrow.compute as pc

ObjArray = npt.NDArray[np.object_]
Mask = npt.NDArray[np.bool_]
Piece = ObjArray | bytes
NULL = b"\\N"
_SPACE, _ZERO, _DOT, _TAB, _NEWLINE = 32, 48, 46, 9, 10
# Integers below this are rendered inside text by looking them up in a shared pool.
_SMALL_INTS = 1 << 17
# Digits looked up at once when formatting integers (a table of 10**_GROUP rows).
_GROUP = 4
_BINARY = pa.binary()


def pool(values: Sequence[str]) -> ObjArray:
    """An object array of the UTF-8 encodings of ``values``, for :class:`Take`."""
    out = np.empty(len(values), dtype=object)
    out[:] = [value.encode() for value in values]
    return out


# Pools as Arrow arrays with a separator and a NULL marker appended, most recently used
# last, keyed by (id(pool), separator, marker). A pool such as every movie's title serves
# every chunk of a table and would otherwise be converted for each; pools made for one chunk
# only pass through. The entry keeps its pool alive, so the id cannot be reused while cached.
_arrow_pools: OrderedDict[tuple[int, bytes, bytes | None], tuple[ObjArray, pa.Array]] = (
    OrderedDict()
)
_ARROW_POOLS = 16


def _arrow_pool(values: ObjArray, suffix: bytes, marker: bytes | None) -> pa.Array:
    """``value + suffix`` for each value of the pool, then ``marker + suffix`` if a marker is
    given (at index ``len(values)``), as an Arrow binary array."""
    key = (id(values), suffix, marker)
    cached = _arrow_pools.get(key)
    if cached is not None and cached[0] is values:
        _arrow_pools.move_to_end(key)
        return cached[1]
    items = [value + suffix for value in values]
    if marker is not None:
        items.append(marker + suffix)
    out = pa.array(items, _BINARY)
    _arrow_pools[key] = (values, out)
    while len(_arrow_pools) > _ARROW_POOLS:
        _arrow_pools.popitem(last=False)
    return out


def clear_cache() -> None:
    """Forget the pools turned into Arrow arrays (call when a table is done)."""
    _arrow_pools.clear()


class Take:
    """A lazy piece: ``pool[index]`` per row (``marker`` where ``null``), materialised when
    the chunk is rendered."""

    __slots__ = ("index", "marker", "null", "pool")

    def __init__(
        self,
        pool: ObjArray,
        index: npt.NDArray[np.integer],
        null: Mask | None = None,
        marker: bytes = NULL,
    ) -> None:
        self.pool, self.index, self.null, self.marker = pool, index, null, marker

    def __len__(self) -> int:
        return len(self.index)

    def materialize(self) -> ObjArray:
        """The piece as one ``bytes`` object per row."""
        out = self.pool.take(self.index)
        if self.null is not None:
            out[self.null] = self.marker
        return out

    def arrow(self, suffix: bytes) -> pa.Array:
        """The piece plus ``suffix``, per row, as an Arrow binary array."""
        if self.null is None:
            return _arrow_pool(self.pool, suffix, None).take(self.index)
        index = np.where(self.null, len(self.pool), self.index)
        return _arrow_pool(self.pool, suffix, self.marker).take(index)

    def nulled(self, null: Mask, marker: bytes) -> Take:
        if self.null is not None and self.marker != marker:
            raise ValueError("a piece cannot be blanked with two markers")
        both = null if self.null is None else self.null | null
        return Take(self.pool, self.index, both, marker)


class Matrix:
    """A lazy piece of fixed-width text (one ``uint8`` row per value), NULL where ``null``."""

    __slots__ = ("null", "values")

    def __init__(self, values: npt.NDArray[np.uint8], null: Mask | None = None) -> None:
        self.values, self.null = values, null

    def __len__(self) -> int:
        return len(self.values)

    def materialize(self) -> ObjArray:
        """The piece as one ``bytes`` object per row."""
        out = np.empty(len(self.values), dtype=object)
        out[:] = [row.tobytes() for row in self.values]
        if self.null is not None:
            out[self.null] = NULL
        return out

    def arrow(self, suffix: bytes) -> pa.Array:
        """The piece plus ``suffix``, per row, as an Arrow binary array."""
        values = self.values
        if suffix:
            n, width = values.shape
            values = np.empty((n, width + len(suffix)), dtype=np.uint8)
            values[:, :width] = self.values
            values[:, width:] = np.frombuffer(suffix, dtype=np.uint8)
        out = _fixed_array(values)
        if self.null is None:
            return out
        return pc.if_else(pa.array(self.null), pa.scalar(NULL + suffix, _BINARY), out)

    def nulled(self, null: Mask, marker: bytes) -> Matrix:
        if marker != NULL:
            raise ValueError("a fixed-width piece must be a column of its own")
        return Matrix(self.values, null if self.null is None else self.null | null)


Lazy = Take | Matrix
Part = Piece | Lazy


@cache
def _small_int_pool() -> ObjArray:
    return pool([str(i) for i in range(_SMALL_INTS)])


def int_text(values: npt.NDArray[np.integer]) -> Take | ObjArray:
    """Non-negative integers as ``bytes`` pieces without padding (for use inside text)."""
    if len(values) == 0 or int(values.max()) < _SMALL_INTS:
        return Take(_small_int_pool(), values)
    return values.astype("S20").astype(object)


def digits(values: npt.NDArray[np.integer], width: int) -> Matrix:
    """Non-negative integers as zero-padded text of ``width`` digits (for a text column)."""
    matrix = np.empty((len(values), width), dtype=np.uint8)
    _digits(matrix, values, pad=_ZERO)
    return Matrix(matrix)


def masked(part: Piece | Take, keep: Mask) -> Piece | Take:
    """``part`` where ``keep``, an empty piece elsewhere."""
    if isinstance(part, Take):
        return part.nulled(~keep, b"")
    if isinstance(part, bytes):
        return _either(part, b"", ~keep)
    out = np.empty(len(keep), dtype=object)
    out[:] = part
    out[~keep] = b""
    return out


@cache
def _pair(value: bytes, other: bytes) -> ObjArray:
    out = np.empty(2, dtype=object)
    out[:] = [value, other]
    return out


def _either(value: bytes, other: bytes, where: Mask) -> Take:
    """``value`` per row, ``other`` where ``where``: a pick from a pool of two (one and the
    same pool for every chunk) rather than an array of ``bytes`` objects to convert."""
    return Take(_pair(value, other), where.view(np.int8))


def json_array(items: Sequence[Sequence[Part]], present: Sequence[Mask]) -> list[Part]:
    """Pieces of a JSON array per row: element ``j`` (made of ``items[j]``) where
    ``present[j]``, separated by commas. The pieces of an element must be JSON text."""
    out: list[Part] = [b"["]
    seen: Mask | None = None
    for pieces, here in zip(items, present, strict=True):
        if seen is not None:
            out.append(masked(b", ", here & seen))
        for piece in pieces:
            if isinstance(piece, Matrix):
                raise TypeError("a fixed-width piece cannot be part of a JSON array")
            out.append(masked(piece, here))
        seen = here if seen is None else seen | here
    out.append(b"]")
    return out


def _width(values: npt.NDArray[np.integer]) -> int:
    if len(values) == 0:
        return 1
    if int(values.min()) < 0:
        raise ValueError("COPY text formatting here supports non-negative integers only")
    return len(str(int(values.max())))


@cache
def _groups() -> npt.NDArray[np.uint32]:
    """The bytes of :data:`_GROUP` digits as one ``uint32`` per value, in three tables of
    10**_GROUP entries: zero-padded (``0042``), space-padded (``  42``, ``   0``) and
    space-padded but blank for zero (``  42``, ``    ``)."""
    top = range(10**_GROUP)
    text = [f"{i:0{_GROUP}d}" for i in top]
    text += [f"{i:{_GROUP}d}" for i in top]
    text += [f"{i:{_GROUP}d}" if i else " " * _GROUP for i in top]
    return np.array([t.encode() for t in text]).view(np.uint32)


def _digits(out: npt.NDArray[np.uint8], values: npt.NDArray[np.integer], *, pad: int) -> None:
    """Write ``values`` right-aligned into ``out`` (rows by width), left-padded with ``pad``
    (``_ZERO`` or ``_SPACE``).

    Digits go :data:`_GROUP` at a time, taken from a table, and with 1-d operations only
    (numpy loops over narrow 2-d arrays row by row): formatting integers was the
    generator's largest cost on narrow tables."""
    n, width = out.shape
    if n == 0:
        return
    x = values.astype(np.int64)
    # Negative values never fit: their digits would not end.
    if int(x.min()) < 0 or (width < 19 and int(x.max()) >= 10**width):
        raise ValueError("value wider than its column")
    groups, top = _groups(), 10**_GROUP
    rest, column, below = x, width, 1
    while column > 0:
        size = min(_GROUP, column)
        if column > _GROUP:
            rest, group = np.divmod(rest, top)
        else:
            group = rest
        below *= top
        if pad != _ZERO:
            # Where nothing is left above this group, it is space-padded (blank if zero,
            # except the units group, which always shows a digit).
            leading = x < below
            group = np.where(leading, group + (top if column == width else 2 * top), group)
        text = groups.take(group).view(np.uint8).reshape(n, _GROUP)
        out[:, column - size : column] = text[:, _GROUP - size :]
        column -= size


def _int_matrix(values: npt.NDArray[np.integer]) -> npt.NDArray[np.uint8]:
    matrix = np.empty((len(values), _width(values)), dtype=np.uint8)
    _digits(matrix, values, pad=_SPACE)
    return matrix


# Dates the timestamp tables cover; others (and NaT) go through numpy's own formatting.
_FIRST_DAY, _DAYS = np.datetime64("1900-01-01", "D"), 250 * 366


@cache
def _clock_tables() -> tuple[npt.NDArray[np.bytes_], npt.NDArray[np.bytes_]]:
    """Every date from :data:`_FIRST_DAY` as ``YYYY-MM-DD``, and every second of a day as
    ``THH:MM:SS``, as numpy's ``astype("S19")`` writes a timestamp."""
    days = (_FIRST_DAY + np.arange(_DAYS)).astype("S10")
    times = np.array([f"T{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}" for s in range(86_400)])
    return days, times.astype("S9")


def _timestamp_text(values: npt.NDArray[np.datetime64]) -> npt.NDArray[np.uint8]:
    """Timestamps (``datetime64[s]``) as 19 bytes each, ``YYYY-MM-DDTHH:MM:SS``: a date and
    a time of day looked up in tables, twice as fast as numpy's own formatting."""
    n = len(values)
    day, second = np.divmod(values.astype(np.int64), 86_400)
    day -= (_FIRST_DAY - np.datetime64(0, "D")).astype(np.int64)
    if n and (np.isnat(values).any() or day.min() < 0 or day.max() >= _DAYS):
        formatted: npt.NDArray[np.uint8] = values.astype("S19").view(np.uint8).reshape(n, 19)
        return formatted
    dates, times = _clock_tables()
    out = np.empty(n, dtype=[("date", "S10"), ("time", "S9")])
    out["date"] = dates.take(day)
    out["time"] = times.take(second)
    text: npt.NDArray[np.uint8] = out.view(np.uint8).reshape(n, 19)
    return text


Fill = Callable[[npt.NDArray[np.uint8]], None]


class CopyRows:
    """Columns of one chunk of rows, rendered by :meth:`render` as COPY text.

    Add columns with the typed methods. Passing a ``null`` mask (True = NULL), even an all
    False one, moves a column out of the fixed-width block into the piece-wise part, so the
    column order is the same in every chunk of a table.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self._fixed: list[tuple[str, int, Fill]] = []
        self._var: list[tuple[tuple[str, ...], list[Part]]] = []

    @property
    def columns(self) -> tuple[str, ...]:
        """Column names in the order :meth:`render` writes them."""
        var = tuple(name for names, _ in self._var for name in names)
        return tuple(name for name, _, _ in self._fixed) + var

    def _check(self, values: Sized) -> None:
        if len(values) != self.n:
            raise ValueError(f"expected {self.n} values, got {len(values)}")

    def ints(self, name: str, values: npt.NDArray[np.integer], *, null: Mask | None = None) -> None:
        """An integer column (non-negative)."""
        self._check(values)
        if null is not None:
            self._var.append(((name,), [Matrix(_int_matrix(np.where(null, 0, values)), null)]))
            return
        self._fixed.append((name, _width(values), lambda out: _digits(out, values, pad=_SPACE)))

    def tenths(
        self, name: str, tenths: npt.NDArray[np.integer], *, null: Mask | None = None
    ) -> None:
        """A number with one decimal, given as an integer count of tenths (75 → ``7.5``)."""
        self._check(tenths)
        if null is not None:
            texts = pool([f"{i // 10}.{i % 10}" for i in range(int(tenths.max(initial=0)) + 1)])
            self._var.append(((name,), [Take(texts, np.where(null, 0, tenths)).nulled(null, NULL)]))
            return
        whole = _width(tenths // 10)

        def fill(out: npt.NDArray[np.uint8]) -> None:
            _digits(out[:, :whole], tenths // 10, pad=_SPACE)
            out[:, whole] = _DOT
            out[:, whole + 1] = tenths % 10 + _ZERO

        self._fixed.append((name, whole + 2, fill))

    def bools(self, name: str, values: Mask) -> None:
        """A boolean column (``t``/``f``)."""
        self._check(values)

        def fill(out: npt.NDArray[np.uint8]) -> None:
            out[:, 0] = np.where(values, ord("t"), ord("f"))

        self._fixed.append((name, 1, fill))

    def timestamps(
        self, name: str, values: npt.NDArray[np.datetime64], *, null: Mask | None = None
    ) -> None:
        """A ``timestamp without time zone`` column, to the second."""
        self._check(values)
        seconds = values.astype("datetime64[s]")
        if null is not None:
            # What a NULL row holds is never shown: any moment formats as fast as another.
            seconds = np.where(null, np.datetime64(0, "s"), seconds)
        raw = _timestamp_text(seconds)
        if null is not None:
            self._var.append(((name,), [Matrix(raw, null)]))
            return
        self._fixed.append((name, 19, lambda out: np.copyto(out, raw)))

    def code(
        self,
        name: str,
        prefix: str,
        numbers: npt.NDArray[np.integer],
        width: int,
        suffix: str = "",
        *,
        null: Mask | None = None,
    ) -> None:
        """Fixed-width text such as ``rv00000042`` or ``https://.../000042.jpg``: ``prefix``,
        a zero-padded number, ``suffix``."""
        self._check(numbers)
        head = np.frombuffer(prefix.encode(), dtype=np.uint8)
        tail = np.frombuffer(suffix.encode(), dtype=np.uint8)
        size = len(head) + width + len(tail)

        def fill(out: npt.NDArray[np.uint8]) -> None:
            out[:, : len(head)] = head
            _digits(out[:, len(head) : len(head) + width], numbers, pad=_ZERO)
            out[:, len(head) + width :] = tail

        if null is None:
            self._fixed.append((name, size, fill))
            return
        matrix = np.empty((self.n, size), dtype=np.uint8)
        fill(matrix)
        self._var.append(((name,), [Matrix(matrix, null)]))

    def text(self, name: str | tuple[str, ...], *pieces: Part, null: Mask | None = None) -> None:
        """A text column: per row, the concatenation of ``pieces`` (arrays, lazy pieces,
        constants). With a tuple of names, the pieces hold several adjacent columns and
        carry the tabs between them themselves (then ``null`` is not allowed)."""
        names = (name,) if isinstance(name, str) else name
        parts: list[Part] = list(pieces) or [b""]
        for part in parts:
            if not isinstance(part, bytes):
                self._check(part)
        if null is not None:
            if len(names) > 1:
                raise ValueError("NULLs of a column group belong in its pieces")
            parts = [_nulled(part, null, NULL if i == 0 else b"") for i, part in enumerate(parts)]
        self._var.append((names, parts))

    def render(self) -> memoryview:
        """The chunk as COPY text: one line per row, columns in :attr:`columns` order."""
        n = self.n
        if n == 0:
            return memoryview(b"")
        arrays: list[pa.Array | pa.Scalar] = []
        if self._fixed:
            width = sum(w for _, w, _ in self._fixed) + len(self._fixed)
            block = np.empty((n, width), dtype=np.uint8)
            offset = 0
            for _, column_width, fill in self._fixed:
                fill(block[:, offset : offset + column_width])
                offset += column_width
                block[:, offset] = _TAB
                offset += 1
            if not self._var:
                block[:, -1] = _NEWLINE
                return memoryview(block.reshape(-1))
            arrays.append(_fixed_array(block))
        for i, (_, parts) in enumerate(self._var):
            end = b"\n" if i == len(self._var) - 1 else b"\t"
            for j, part in enumerate(parts):
                # The separator rides on the last piece of a column: one piece less.
                suffix = end if j == len(parts) - 1 else b""
                if isinstance(part, bytes):
                    arrays.append(pa.scalar(part + suffix, _BINARY))
                elif isinstance(part, Take | Matrix):
                    arrays.append(part.arrow(suffix))
                else:
                    arrays.append(pa.array(part, _BINARY))
                    if suffix:
                        arrays.append(pa.scalar(suffix, _BINARY))
        joined = pc.binary_join_element_wise(*arrays, pa.scalar(b"", _BINARY))
        if isinstance(joined, pa.Scalar):  # constants only
            return memoryview(joined.as_py() * n)
        _, offsets, data = joined.buffers()
        ends = np.frombuffer(offsets, dtype=np.int32, count=n + 1, offset=joined.offset * 4)
        return memoryview(data)[int(ends[0]) : int(ends[-1])]


def _fixed_array(matrix: npt.NDArray[np.uint8]) -> pa.Array:
    """The rows of a ``uint8`` matrix as an Arrow binary array, sharing its memory."""
    n, width = matrix.shape
    matrix = np.ascontiguousarray(matrix)
    offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
    buffers = [None, pa.py_buffer(offsets), pa.py_buffer(matrix)]
    return pa.Array.from_buffers(_BINARY, n, buffers)


def _nulled(part: Part, null: Mask, marker: bytes) -> Part:
    if isinstance(part, Take | Matrix):
        return part.nulled(null, marker)
    if isinstance(part, bytes):
        return _either(part, marker, null)
    out = np.empty(len(null), dtype=object)
    out[:] = part
    out[null] = marker
    return out
