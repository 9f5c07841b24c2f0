"""A small parser for the seed schema document (``shared/seed/iwm_schema.md``).

The seed is the contract for the schema (see DESIGN.md). Tests read it rather than copy its
tables by hand, so a change to the seed is a change to what the tests demand. The parser is
strict: a column type, a constraint keyword or an index clause it does not understand raises
:class:`SeedFormatError` instead of being ignored.

What it reads from each ``### `table``` section:

- the markdown table ``| Column | Type | Constraints | ... |``;
- every ``CREATE [UNIQUE] INDEX`` statement in its fenced ``sql`` blocks;
- every ``CREATE TABLE x (LIKE y ...) PARTITION BY ...`` and ``CREATE TABLE p PARTITION OF x
  FOR VALUES FROM (...) TO (...)`` statement in those blocks;
- the body of a ``cron.schedule(..., $$ body $$)`` call, if any.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

SEED_ENV_VAR = "IWM_SEED_SCHEMA"
DEFAULT_SEED_PATH = Path(__file__).resolve().parents[2] / "shared" / "seed" / "iwm_schema.md"

# Seed type -> (information_schema.columns.data_type, whether the seed gives a length).
SEED_TYPES: dict[str, tuple[str, bool]] = {
    "VARCHAR": ("character varying", True),
    "TEXT": ("text", False),
    "INTEGER": ("integer", False),
    "FLOAT": ("double precision", False),
    "BOOLEAN": ("boolean", False),
    "TIMESTAMP": ("timestamp without time zone", False),
    "JSONB": ("jsonb", False),
}


class SeedFormatError(ValueError):
    """The seed document holds something this parser does not understand."""


def seed_path() -> Path:
    """Where the seed is: ``$IWM_SEED_SCHEMA`` if set, else ``shared/seed`` beside the repo."""
    override = os.environ.get(SEED_ENV_VAR)
    return Path(override).expanduser() if override else DEFAULT_SEED_PATH


@dataclass(frozen=True)
class SeedColumn:
    table: str
    name: str
    seed_type: str  # as written, e.g. "VARCHAR(50)"
    data_type: str  # information_schema spelling, e.g. "character varying"
    length: int | None
    constraints: str  # as written
    primary_key: bool = False
    auto: bool = False
    not_null: bool = False
    unique: bool = False
    indexed: bool = False
    default: str | None = None  # as written after DEFAULT: "'released'", "NOW()", "0", "FALSE"
    foreign_key: tuple[str, str] | None = None  # (table, column)

    @property
    def id(self) -> str:
        return f"{self.table}.{self.name}"

    @property
    def nullable(self) -> bool:
        return not (self.not_null or self.primary_key)


@dataclass(frozen=True)
class IndexElement:
    expression: str  # column name or expression, as written
    descending: bool = False
    opclass: str | None = None


@dataclass(frozen=True)
class SeedIndex:
    name: str
    table: str
    unique: bool
    method: str  # lower case; "btree" when the statement gives no USING
    elements: tuple[IndexElement, ...]
    where: str | None
    statement: str


@dataclass(frozen=True)
class SeedPartitionedTable:
    name: str
    like: str | None  # the table whose columns it copies (LIKE x INCLUDING ALL)
    strategy: str  # "range", "list" or "hash"
    key: tuple[str, ...]
    statement: str


@dataclass(frozen=True)
class SeedPartition:
    name: str
    parent: str
    lower: str  # literal inside FROM (...), quotes removed
    upper: str
    statement: str


@dataclass
class SeedTable:
    name: str
    columns: list[SeedColumn] = field(default_factory=list)
    indexes: list[SeedIndex] = field(default_factory=list)
    partitioned: list[SeedPartitionedTable] = field(default_factory=list)
    partitions: list[SeedPartition] = field(default_factory=list)
    cron_bodies: list[str] = field(default_factory=list)


@dataclass
class Seed:
    path: Path
    text: str
    tables: dict[str, SeedTable]

    @property
    def columns(self) -> list[SeedColumn]:
        return [c for t in self.tables.values() for c in t.columns]

    @property
    def indexes(self) -> list[SeedIndex]:
        return [i for t in self.tables.values() for i in t.indexes]

    @property
    def partitioned(self) -> list[SeedPartitionedTable]:
        return [p for t in self.tables.values() for p in t.partitioned]

    @property
    def partitions(self) -> list[SeedPartition]:
        return [p for t in self.tables.values() for p in t.partitions]

    @property
    def cron_bodies(self) -> list[str]:
        return [b for t in self.tables.values() for b in t.cron_bodies]


_SECTION = re.compile(r"^###\s+`(?P<name>[A-Za-z_][A-Za-z0-9_]*)`\s*$", re.MULTILINE)
_ANY_HEADING = re.compile(r"^#{1,3}\s", re.MULTILINE)
_SQL_BLOCK = re.compile(r"^```sql\s*\n(?P<body>.*?)^```", re.MULTILINE | re.DOTALL)
_TYPE = re.compile(r"^(?P<base>[A-Z]+)(?:\((?P<length>\d+)\))?$")
_CREATE_INDEX = re.compile(
    r"^CREATE\s+(?P<unique>UNIQUE\s+)?INDEX\s+(?P<name>\w+)\s+ON\s+(?P<table>\w+)\s*"
    r"(?:USING\s+(?P<method>\w+)\s*)?\((?P<elements>.*?)\)\s*(?:WHERE\s+(?P<where>.+))?$",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_PARTITIONED = re.compile(
    r"^CREATE\s+TABLE\s+(?P<name>\w+)\s*\((?P<body>.*?)\)\s*"
    r"PARTITION\s+BY\s+(?P<strategy>RANGE|LIST|HASH)\s*\((?P<key>[^)]*)\)$",
    re.IGNORECASE | re.DOTALL,
)
_CREATE_PARTITION = re.compile(
    r"^CREATE\s+TABLE\s+(?P<name>\w+)\s+PARTITION\s+OF\s+(?P<parent>\w+)\s+"
    r"FOR\s+VALUES\s+FROM\s*\((?P<lower>[^)]*)\)\s*TO\s*\((?P<upper>[^)]*)\)$",
    re.IGNORECASE | re.DOTALL,
)
_LIKE = re.compile(r"^\s*LIKE\s+(?P<table>\w+)\b", re.IGNORECASE)
_CRON = re.compile(r"cron\.schedule\s*\(.*?\$\$(?P<body>.*?)\$\$", re.IGNORECASE | re.DOTALL)
_FK = re.compile(r"^FK\s*(?:→|->)\s*(?P<table>\w+)\.(?P<column>\w+)$", re.IGNORECASE)
_DEFAULT = re.compile(r"^DEFAULT\s+(?P<value>.+)$", re.IGNORECASE)


def load_seed(path: Path | None = None) -> Seed:
    """Parse the seed at ``path`` (default :func:`seed_path`); raise FileNotFoundError if absent."""
    path = path or seed_path()
    if not path.is_file():
        raise FileNotFoundError(
            f"seed schema document not found at {path}: the schema contract tests need it. "
            f"Put the seed there or point ${SEED_ENV_VAR} at it."
        )
    return parse_seed(path.read_text(encoding="utf-8"), path)


def parse_seed(text: str, path: Path = Path("<seed>")) -> Seed:
    tables: dict[str, SeedTable] = {}
    matches = list(_SECTION.finditer(text))
    for match in matches:
        start = match.end()
        following = _ANY_HEADING.search(text, start)
        end = following.start() if following else len(text)
        name = match["name"]
        if name in tables:
            raise SeedFormatError(f"table `{name}` has two sections")
        tables[name] = _parse_section(name, text[start:end])
    return Seed(path=path, text=text, tables=tables)


def _parse_section(name: str, body: str) -> SeedTable:
    table = SeedTable(name=name, columns=_parse_column_table(name, body))
    for block in _SQL_BLOCK.finditer(body):
        for cron in _CRON.finditer(block["body"]):
            table.cron_bodies.append(cron["body"].strip())
        sql = _CRON.sub("", block["body"])
        for statement in _statements(sql):
            upper = statement.upper()
            if re.match(r"CREATE\s+(UNIQUE\s+)?INDEX\b", upper):
                table.indexes.append(parse_index(statement))
            elif re.match(r"CREATE\s+TABLE\b", upper):
                _parse_create_table(table, statement)
    return table


def _statements(sql: str) -> list[str]:
    lines = [re.sub(r"--.*$", "", line) for line in sql.splitlines()]
    joined = "\n".join(lines)
    return [" ".join(s.split()) for s in joined.split(";") if s.strip()]


def _parse_create_table(table: SeedTable, statement: str) -> None:
    if m := _CREATE_PARTITIONED.match(statement):
        like = _LIKE.match(m["body"])
        key = tuple(k.strip() for k in m["key"].split(",") if k.strip())
        table.partitioned.append(
            SeedPartitionedTable(
                name=m["name"],
                like=like["table"] if like else None,
                strategy=m["strategy"].lower(),
                key=key,
                statement=statement,
            )
        )
    elif m := _CREATE_PARTITION.match(statement):
        table.partitions.append(
            SeedPartition(
                name=m["name"],
                parent=m["parent"],
                lower=m["lower"].strip().strip("'"),
                upper=m["upper"].strip().strip("'"),
                statement=statement,
            )
        )
    else:
        raise SeedFormatError(f"section `{table.name}`: cannot read {statement!r}")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _parse_column_table(table: str, body: str) -> list[SeedColumn]:
    lines = [line for line in body.splitlines() if line.lstrip().startswith("|")]
    if not lines:
        raise SeedFormatError(f"section `{table}` has no column table")
    header = [h.lower() for h in _cells(lines[0])]
    if header[:3] != ["column", "type", "constraints"]:
        raise SeedFormatError(f"section `{table}`: unexpected table header {header}")
    columns = []
    for line in lines[1:]:
        cells = _cells(line)
        if all(set(c) <= set("-: ") for c in cells):
            continue  # the |---|---| separator
        columns.append(_parse_column(table, cells[0], cells[1], cells[2]))
    if not columns:
        raise SeedFormatError(f"section `{table}` lists no columns")
    return columns


def _split_constraints(constraints: str) -> list[str]:
    """Split on commas outside quotes and parentheses."""
    parts, depth, quoted, current = [], 0, False, []
    for ch in constraints:
        if ch == "'":
            quoted = not quoted
        elif not quoted and ch in "()":
            depth += 1 if ch == "(" else -1
        if ch == "," and not quoted and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return [p for p in parts if p]


def _parse_column(table: str, name: str, seed_type: str, constraints: str) -> SeedColumn:
    where = f"{table}.{name}"
    type_match = _TYPE.match(seed_type.strip().upper())
    if not type_match or type_match["base"] not in SEED_TYPES:
        raise SeedFormatError(f"{where}: unknown type {seed_type!r}")
    data_type, has_length = SEED_TYPES[type_match["base"]]
    length = int(type_match["length"]) if type_match["length"] else None
    if has_length != (length is not None):
        raise SeedFormatError(f"{where}: type {seed_type!r} length missing or unexpected")
    flags: dict[str, object] = {}
    for token in _split_constraints(constraints):
        upper = token.upper()
        if upper == "PK":
            flags["primary_key"] = True
        elif upper == "AUTO":
            flags["auto"] = True
        elif upper == "NOT NULL":
            flags["not_null"] = True
        elif upper == "NULL":
            pass  # nullable, the default
        elif upper == "UNIQUE":
            flags["unique"] = True
        elif upper == "INDEX":
            flags["indexed"] = True
        elif fk := _FK.match(token):
            flags["foreign_key"] = (fk["table"], fk["column"])
        elif default := _DEFAULT.match(token):
            flags["default"] = default["value"].strip()
        else:
            raise SeedFormatError(f"{where}: unknown constraint {token!r}")
    return SeedColumn(
        table=table,
        name=name,
        seed_type=seed_type,
        data_type=data_type,
        length=length,
        constraints=constraints,
        **flags,  # type: ignore[arg-type]
    )


def _split_top_level(text: str) -> list[str]:
    parts, depth, current = [], 0, []
    for ch in text:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(ch)
    parts.append("".join(current).strip())
    return parts


def parse_index_element(element: str) -> IndexElement:
    tokens = element.split()
    descending = False
    if len(tokens) > 1 and tokens[-1].upper() in ("ASC", "DESC"):
        descending = tokens.pop().upper() == "DESC"
    if any(t.upper() in ("NULLS", "COLLATE") for t in tokens):
        raise SeedFormatError(f"index element {element!r}: NULLS/COLLATE not supported")
    opclass = None
    # "col opclass": a bare identifier followed by another identifier.
    if len(tokens) == 2 and re.fullmatch(r"\w+", tokens[1]) and re.fullmatch(r"\w+", tokens[0]):
        opclass = tokens.pop().lower()
    if len(tokens) != 1 and not element.lstrip().startswith("("):
        raise SeedFormatError(f"cannot read index element {element!r}")
    return IndexElement(expression=" ".join(tokens), descending=descending, opclass=opclass)


def parse_index(statement: str) -> SeedIndex:
    m = _CREATE_INDEX.match(statement.strip().rstrip(";"))
    if not m:
        raise SeedFormatError(f"cannot read index statement {statement!r}")
    elements = tuple(parse_index_element(e) for e in _split_top_level(m["elements"]))
    return SeedIndex(
        name=m["name"],
        table=m["table"],
        unique=bool(m["unique"]),
        method=(m["method"] or "btree").lower(),
        elements=elements,
        where=m["where"].strip() if m["where"] else None,
        statement=statement,
    )


def normalise_sql(expression: str | None) -> str | None:
    """Compare SQL fragments as PostgreSQL renders them and as the seed writes them.

    ``(is_popular = true)`` and ``is_popular = TRUE`` both become ``is_popular=true``:
    case-insensitive, no parentheses, whitespace or identifier quotes.
    """
    if expression is None:
        return None
    return re.sub(r'[\s()"]', "", expression).lower()
