"""Security: which password hashes the application would replace at its users' next login.

``users.hashed_password`` holds Argon2 hashes in their encoded form,
``$argon2id$v=19$m=65536,t=3,p=4$<salt>$<hash>``. The audit parses the parameters in SQL and
returns counts only: no hash, salt or user leaves the database.
"""

from __future__ import annotations

from typing import Any

import pandas as pd
from argon2 import PasswordHasher, extract_parameters
from sqlalchemy import Connection, Row, text

from iwm_lab.queries._common import shown, typed

# The parameter part of an encoded hash, after its leading "$": type, version, memory (KiB),
# time cost, parallelism. Digit runs are bounded so the casts below cannot overflow a bigint.
_PARAMETERS = (
    "^(argon2id|argon2i|argon2d)[$]v=([0-9]{1,10})[$]"
    "m=([0-9]{1,10}),t=([0-9]{1,10}),p=([0-9]{1,10})$"
)

# Users are grouped by the shape of their hash first, with plain string functions: a regular
# expression with captures costs PostgreSQL a fraction of a millisecond per value, seconds
# over a large users table, so it runs once per distinct shape instead. The shape is the
# parameter part and the lengths of the salt and the hash (argon2 derives their byte counts
# from the lengths), of values that start like an Argon2 hash and have at most its five "$"
# (a value with fewer has no hash, and no shape: see parsed).
#
# The per-row work is the whole cost of the audit, so the shapes a sample of users shows
# (nearly every user shares one or two) are recognised first by a single LIKE each: the
# shape's own parameter part, "$", one "_" per salt character, "$", one "_" per hash
# character, on a value with no sixth "$" (a "_" matches a "$" too). That is exactly the
# shape the string functions would find, for half their cost; the other values get them.
_SHAPE = """split_part({v}, '$', 2) || '$' || split_part({v}, '$', 3) || '$'
                    || split_part({v}, '$', 4)"""
_SIX_DOLLARS = "'%$%$%$%$%$%$%'"
_KNOWN_SHAPES = 4  # at most this many, the sample's most frequent

_SAMPLE_SQL = text(f"""
SELECT parameters, salt_chars, hash_chars
FROM (
    SELECT {_SHAPE.format(v="s.h")} AS parameters,
           length(split_part(s.h, '$', 5)) AS salt_chars,
           length(split_part(s.h, '$', 6)) AS hash_chars
    FROM (SELECT u.hashed_password AS h FROM users AS u LIMIT 1000) AS s
    WHERE s.h LIKE '$argon2%' AND s.h NOT LIKE {_SIX_DOLLARS}
) AS shapes
WHERE salt_chars > 0 AND hash_chars > 0
GROUP BY 1, 2, 3
ORDER BY count(*) DESC, 1, 2, 3
LIMIT {_KNOWN_SHAPES}
""")  # noqa: S608 (constants only: every value is bound)


def _like_escaped(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _parameter_sets_sql(known: int) -> str:
    """The audit's statement, with ``known`` shapes recognised by their LIKE patterns
    (bound as ``pattern_i``, and the shape's key as ``key_i``). The text varies only with
    ``known``: placeholders and constants, no value.

    A shape is one text key, ``<parameter part>$<salt characters>$<hash characters>`` (the
    parameter part holds exactly two "$"), grouped on in one pass: a value's LIKEs run once.
    """
    whens = "".join(
        f"WHEN u.hashed_password LIKE :pattern_{i} THEN :key_{i}\n                    "
        for i in range(known)
    )
    return f"""
WITH shapes AS (
    SELECT CASE
               WHEN u.hashed_password NOT LIKE {_SIX_DOLLARS} THEN
                   CASE
                    {whens}WHEN u.hashed_password LIKE '$argon2%'
                    THEN {_SHAPE.format(v="u.hashed_password")} || '$'
                         || length(split_part(u.hashed_password, '$', 5)) || '$'
                         || length(split_part(u.hashed_password, '$', 6))
                   END
           END AS shape,
           count(*) AS users
    FROM users AS u
    GROUP BY 1
),
by_shape AS (
    SELECT split_part(shape, '$', 1) || '$' || split_part(shape, '$', 2) || '$'
           || split_part(shape, '$', 3) AS parameters,
           CAST(nullif(split_part(shape, '$', 4), '') AS integer) AS salt_chars,
           CAST(nullif(split_part(shape, '$', 5), '') AS integer) AS hash_chars,
           users
    FROM shapes
),
parsed AS (
    SELECT CASE
               WHEN salt_chars > 0 AND hash_chars > 0 THEN regexp_match(parameters, :pattern)
           END AS part,
           salt_chars, hash_chars, users
    FROM by_shape
)
SELECT part[1] AS algorithm,
       CAST(part[2] AS bigint) AS version,
       CAST(part[3] AS bigint) AS memory_kib,
       CAST(part[4] AS bigint) AS time_cost,
       CAST(part[5] AS bigint) AS parallelism,
       CASE WHEN part IS NOT NULL THEN salt_chars END AS salt_chars,
       CASE WHEN part IS NOT NULL THEN hash_chars END AS hash_chars,
       CAST(sum(users) AS bigint) AS users
FROM parsed
GROUP BY 1, 2, 3, 4, 5, 6, 7
"""  # noqa: S608 (placeholders and constants only: every value is bound)


def _parameter_sets(conn: Connection) -> list[Row[Any]]:
    """Users per (parameter part, salt characters, hash characters), parsed."""
    known = conn.execute(_SAMPLE_SQL).all()
    params: dict[str, object] = {"pattern": _PARAMETERS}
    for i, (parameters, salt_chars, hash_chars) in enumerate(known):
        pattern = f"${_like_escaped(parameters)}${'_' * salt_chars}${'_' * hash_chars}"
        params |= {f"pattern_{i}": pattern, f"key_{i}": f"{parameters}${salt_chars}${hash_chars}"}
    return list(conn.execute(text(_parameter_sets_sql(len(known))), params).all())


AUDIT_COLUMNS: dict[str, str] = {
    "algorithm": "str",
    "version": "Int64",
    "memory_kib": "Int64",
    "time_cost": "Int64",
    "parallelism": "Int64",
    "salt_bytes": "Int64",
    "hash_bytes": "Int64",
    "users": "int64",
    "share": "float64",
    "needs_rehash": "bool",
}


def password_hash_audit(conn: Connection, *, hasher: PasswordHasher | None = None) -> pd.DataFrame:
    """Users per Argon2 parameter set, and whether the current parameters would rehash it.

    "Current" is ``hasher`` (default: argon2-cffi's ``PasswordHasher()``, what the application
    hashes new passwords with). ``check_needs_rehash`` runs once per distinct parameter set,
    not once per user, on a stand-in with the set's parameters and lengths (argon2 reads the
    salt and hash lengths from the encoded form, so they are part of the set).

    One row per parameter set found, sorted by ``users`` (descending), then the parameters.
    A value that is not an encoded Argon2 hash with a version, a salt and a hash (bcrypt, plain
    text, an Argon2 1.0 hash without ``v=``, an empty salt) counts in one row whose parameters
    are NA and which needs a rehash.
    Columns:

    - ``algorithm`` (str): ``argon2id``, ``argon2i`` or ``argon2d``.
    - ``version`` (Int64): the Argon2 version (19 is 1.3).
    - ``memory_kib``, ``time_cost``, ``parallelism`` (Int64): the ``m``, ``t`` and ``p`` costs.
    - ``salt_bytes``, ``hash_bytes`` (Int64): lengths of the salt and the hash.
    - ``users`` (int64): users whose hash has these parameters.
    - ``share`` (float64): ``users`` over all users.
    - ``needs_rehash`` (bool): ``hasher.check_needs_rehash`` flags the set.
    """
    if hasher is not None and not isinstance(hasher, PasswordHasher):
        raise ValueError(f"hasher must be an argon2 PasswordHasher, got {shown(hasher)}")
    hasher = hasher or PasswordHasher()
    # Plain rows, not a frame: a frame would turn the integers of a column with NULLs to floats.
    sets = _parameter_sets(conn)
    rows = []
    for found in sets:
        row = {"algorithm": found.algorithm, "users": found.users, "needs_rehash": True}
        if found.algorithm is not None:
            stand_in = (
                f"${found.algorithm}$v={found.version}"
                f"$m={found.memory_kib},t={found.time_cost},p={found.parallelism}"
                f"${'A' * found.salt_chars}${'A' * found.hash_chars}"
            )
            parameters = extract_parameters(stand_in)
            row |= {
                "version": found.version,
                "memory_kib": found.memory_kib,
                "time_cost": found.time_cost,
                "parallelism": found.parallelism,
                "salt_bytes": parameters.salt_len,
                "hash_bytes": parameters.hash_len,
                "needs_rehash": hasher.check_needs_rehash(stand_in),
            }
        rows.append(row)
    keys = list(AUDIT_COLUMNS)[:7]
    # Base64 lengths that decode to the same byte count are one parameter set. A handful of
    # rows: merged and sorted in Python, a tenth of what pandas' groupby and sort cost.
    merged: dict[tuple[Any, ...], int] = {}
    for row in rows:
        key = (*(row.get(k) for k in keys), row["needs_rehash"])
        merged[key] = merged.get(key, 0) + row["users"]
    ordered = sorted(merged.items(), key=_audit_order)
    audit = pd.DataFrame(
        [(*key[:-1], users, key[-1]) for key, users in ordered],
        columns=[*keys, "users", "needs_rehash"],
    )
    total = audit["users"].sum()
    audit["share"] = audit["users"] / total if total else float("nan")
    return typed(audit, AUDIT_COLUMNS)


def _audit_order(item: tuple[tuple[Any, ...], int]) -> tuple[Any, ...]:
    """Most users first, then by the parameters, a missing one after every value."""
    key, users = item
    return (-users, *((value is None, value if value is not None else 0) for value in key[:-1]))


__all__ = ["password_hash_audit"]


def __dir__() -> list[str]:
    # What tab completion offers: the queries, not the names they are built from.
    return list(__all__)
