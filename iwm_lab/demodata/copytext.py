"""Numpy columns to PostgreSQL ``COPY ... FROM STDIN`` text, fast enough to keep COPY busy.

Formatting is the loader's bottleneck, so no Python code runs per row:

* Non-null numbers, booleans, timestamps and fixed-width codes of a chunk go into one
  ``uint8`` matrix, numbers right-aligned with spaces (PostgreSQL's input functions skip
  surrounding whitespace). Each matrix row becomes a single ``bytes`` piece.
* Text columns are concatenations of ``bytes`` pieces taken from pools by index (object
  arrays), so a column costs a fancy-index per piece, not a Python call per value.
* A chunk is ``b"".join`` of all pieces in row order, in slices of :data:`JOIN_ROWS` rows
  (a join holds the GIL, which the thread feeding COPY needs every few milliseconds).
* A chunk of narrow rows whose pieces are all constants, picks from pools or fixed-width
  text skips the pieces: :mod:`.packed` builds the same text in ``uint8`` matrices, with no
  object per value and without the GIL.

``b"".join`` costs 40 to 200 ns per piece (more when the pieces are many distinct objects,
which miss the CPU cache), so the number of pieces per row is what to keep small: lazy
pieces (:class:`Take`, nullable numbers) take the column separator into their pool instead
of adding a piece, and one piece may carry several adjacent columns (:meth:`CopyRows.text`
with a tuple of names). Fixed-width columns come first in the COPY column list
(:attr:`CopyRows.columns`), whatever order the caller adds them in. Values must never
contain tab, newline or backslash; the tests check the pools of :mod:`.vocab` for that.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence, Sized
from functools import cache

import numpy as np
import numpy.typing as npt

from iwm_lab.demodata import packed

ObjArray = npt.NDArray[np.object_]
Mask = npt.NDArray[np.bool_]
Piece = ObjArray | bytes
NULL = b"\\N"
_SPACE, _ZERO, _DOT, _TAB, _NEWLINE = 32, 48, 46, 9, 10
# Integers below this are rendered inside text by looking them up in a shared pool.
_SMALL_INTS = 1 << 17
# Digits looked up at once when formatting integers (a table of 10**_GROUP rows).
_GROUP = 4
# Rows joined at once by :meth:`CopyRows.render` (about a millisecond's work).
JOIN_ROWS = 2048


def pool(values: Sequence[str]) -> ObjArray:
    """An object array of the UTF-8 encodings of ``values``, for :class:`Take`."""
    out = np.empty(len(values), dtype=object)
    out[:] = [value.encode() for value in values]
    return out


# Pools with a separator appended, most recently used last, keyed by (id(pool), separator).
# A pool such as every movie's title serves every chunk of a table and would otherwise be
# copied for each; pools made for one chunk only pass through. The entry keeps its pool alive,
# so the id cannot be reused while cached.
_suffixed: OrderedDict[tuple[int, bytes], tuple[ObjArray, ObjArray]] = OrderedDict()
_SUFFIXED_POOLS = 8


def _with_suffix(values: ObjArray, suffix: bytes) -> ObjArray:
    key = (id(values), suffix)
    cached = _suffixed.get(key)
    if cached is not None and cached[0] is values:
        _suffixed.move_to_end(key)
        return cached[1]
    out = np.empty(len(values), dtype=object)
    out[:] = [value + suffix for value in values]
    _suffixed[key] = (values, out)
    while len(_suffixed) > _SUFFIXED_POOLS:
        _suffixed.popitem(last=False)
    return out


def clear_cache() -> None:
    """Forget the pools with separators appended (call when a table is done)."""
    _suffixed.clear()
    packed.clear_cache()


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

    def materialize(self, suffix: bytes = b"") -> ObjArray:
        out = (_with_suffix(self.pool, suffix) if suffix else self.pool).take(self.index)
        if self.null is not None:
            out[self.null] = self.marker + suffix
        return out

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

    def materialize(self, suffix: bytes = b"") -> ObjArray:
        n, width = self.values.shape
        full = np.empty((n, width + len(suffix)), dtype=np.uint8)
        full[:, :width] = self.values
        full[:, width:] = np.frombuffer(suffix, dtype=np.uint8)
        out = full.view(f"S{width + len(suffix)}").ravel().astype(object)
        if self.null is not None:
            out[self.null] = NULL + suffix
        return out

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
    out = np.empty(len(keep), dtype=object)
    out[:] = part
    out[~keep] = b""
    return out


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
        raw = values.astype("datetime64[s]").astype("S19").view(np.uint8).reshape(self.n, 19)
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

    def render(self) -> bytes:
        """The chunk as COPY text: one line per row, columns in :attr:`columns` order."""
        n = self.n
        if n == 0:
            return b""
        width = sum(w for _, w, _ in self._fixed) + len(self._fixed)
        slots: list[Piece] = []
        if self._fixed:
            block = np.empty((n, width), dtype=np.uint8)
            offset = 0
            for _, column_width, fill in self._fixed:
                fill(block[:, offset : offset + column_width])
                offset += column_width
                block[:, offset] = _TAB
                offset += 1
            if not self._var:
                block[:, -1] = _NEWLINE
                return block.tobytes()
        narrow = self._packed(block if self._fixed else None)
        if narrow is not None:
            return narrow
        if self._fixed:
            slots.append(block.view(f"S{width}").ravel().astype(object))
        for i, (_, parts) in enumerate(self._var):
            end = b"\n" if i == len(self._var) - 1 else b"\t"
            slots.extend(_materialize(part) for part in parts[:-1])
            # The separator rides on the last piece where that is cheap: one piece less.
            last = parts[-1]
            if isinstance(last, bytes):
                slots.append(last + end)
            elif isinstance(last, Take | Matrix):
                slots.append(last.materialize(end))
            else:
                slots.extend((last, end))
        grid = np.empty((n, len(slots)), dtype=object)
        for j, slot in enumerate(slots):
            grid[:, j] = slot
        flat = grid.ravel().tolist()
        # A join holds the GIL throughout: one over a whole chunk would keep the thread
        # feeding COPY from the socket for milliseconds, long enough for the server to drain
        # it and wait. Joining slices of rows gives that thread its turn between them.
        step = JOIN_ROWS * len(slots)
        if len(flat) <= step:
            return b"".join(flat)
        return b"".join([b"".join(flat[i : i + step]) for i in range(0, len(flat), step)])

    def _packed(self, block: npt.NDArray[np.uint8] | None) -> bytes | None:
        """The chunk rendered by :mod:`.packed`, or None when a piece is an array of
        ``bytes`` or a row could be wider than :data:`packed.MAX_ROW_BYTES`."""
        pieces: list[tuple[Part, bytes]] = []
        width = 0 if block is None else block.shape[1]
        for i, (_, parts) in enumerate(self._var):
            end = b"\n" if i == len(self._var) - 1 else b"\t"
            for j, part in enumerate(parts):
                suffix = end if j == len(parts) - 1 else b""
                if isinstance(part, bytes):
                    width += len(part)
                elif isinstance(part, Take):
                    width += max(packed.pool_width(part.pool), len(part.marker))
                elif isinstance(part, Matrix):
                    width += max(part.values.shape[1], len(NULL))
                else:
                    return None
                width += len(suffix)
                if width > packed.MAX_ROW_BYTES:
                    return None
                pieces.append((part, suffix))
        slots: list[packed.Slot] = [] if block is None else [(block, block.shape[1])]
        for part, suffix in pieces:
            if isinstance(part, Take):
                slots.append(packed.take(part.pool, part.index, part.null, part.marker, suffix))
            elif isinstance(part, Matrix):
                slots.append(packed.fixed(part.values, part.null, NULL, suffix))
            else:
                slots.append(packed.constant(part + suffix))
        return packed.join(self.n, slots)


def _materialize(part: Part) -> Piece:
    return part.materialize() if isinstance(part, Take | Matrix) else part


def _nulled(part: Part, null: Mask, marker: bytes) -> Part:
    if isinstance(part, Take | Matrix):
        return part.nulled(null, marker)
    out = np.empty(len(null), dtype=object)
    out[:] = part
    out[null] = marker
    return out
