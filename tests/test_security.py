"""``iwm_lab.queries.security.password_hash_audit``: users per Argon2 parameter set, no hashes."""

from __future__ import annotations

import pandas as pd
import pytest
from argon2 import PasswordHasher, Type
from sqlalchemy import Connection, text

from iwm_lab.queries.security import AUDIT_COLUMNS, password_hash_audit

SALT = "c2FsdHNhbHRzYWx0c2FsdA"  # 16 bytes
HASH = "aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaGhhc2g"  # 32 bytes
CURRENT = PasswordHasher()


def encoded(
    kind: str = "argon2id", *, m: int = 65536, t: int = 3, p: int = 4, digest: str = HASH
) -> str:
    return f"${kind}$v=19$m={m},t={t},p={p}${SALT}${digest}"


class CountingHasher(PasswordHasher):
    """A PasswordHasher that counts how often it is asked about a hash."""

    calls = 0

    def check_needs_rehash(self, hash: str | bytes) -> bool:
        self.calls += 1
        return super().check_needs_rehash(hash)


def add_users(conn: Connection, hashes: list[str]) -> None:
    conn.execute(
        text("insert into users (name, hashed_password) values (:name, :hashed)"),
        [{"name": f"user {i}", "hashed": h} for i, h in enumerate(hashes)],
    )


def test_counts_users_per_parameter_set_and_flags_old_ones(conn: Connection) -> None:
    add_users(
        conn,
        [
            CURRENT.hash("one"),
            CURRENT.hash("two"),
            encoded(m=CURRENT.memory_cost, t=CURRENT.time_cost, p=CURRENT.parallelism),
            encoded(m=19456, t=2, p=1),
            encoded(m=19456, t=2, p=1),
            encoded("argon2i", m=CURRENT.memory_cost, t=CURRENT.time_cost, p=CURRENT.parallelism),
            encoded(digest=HASH[:22]),  # a 16-byte hash
            "$2b$12$R9h/cIPz0gi.URNNX3kh2OPST9/PgBkqquzi.Ss7KIUgO2t0jWMUW",  # bcrypt
            "hunter2",
            f"$argon2id$m=65536,t=3,p=4${SALT}${HASH}",  # Argon2 1.0: no version
            f"$argon2id$v=19$m=65536,t=3,p=4$${HASH}",  # no salt
            f"$argon2id$v=19$m=lots,t=3,p=4${SALT}${HASH}",
        ],
    )
    hasher = CountingHasher()
    audit = password_hash_audit(conn, hasher=hasher)

    expected = pd.DataFrame(
        [
            (None, None, None, None, None, None, None, 5, True),
            ("argon2id", 19, 65536, 3, 4, 16, 32, 3, False),
            ("argon2id", 19, 19456, 2, 1, 16, 32, 2, True),
            ("argon2i", 19, 65536, 3, 4, 16, 32, 1, True),
            ("argon2id", 19, 65536, 3, 4, 16, 16, 1, True),
        ],
        columns=[c for c in AUDIT_COLUMNS if c != "share"],
    ).astype({c: t for c, t in AUDIT_COLUMNS.items() if c != "share"})
    pd.testing.assert_frame_equal(audit.drop(columns="share"), expected)
    assert audit["share"].tolist() == pytest.approx([5 / 12, 3 / 12, 2 / 12, 1 / 12, 1 / 12])
    # Once per parameter set found (four of them), not once per user.
    assert hasher.calls == 4
    # Only parameters and counts: no salt, hash or password leaves the database.
    assert not audit.astype(str).apply(lambda col: col.str.contains(r"\$|hunter|R9h")).any().any()


def test_current_parameters_decide(conn: Connection) -> None:
    add_users(conn, [encoded(m=19456, t=2, p=1), encoded()])
    owasp = PasswordHasher(memory_cost=19456, time_cost=2, parallelism=1, type=Type.ID)
    flags = password_hash_audit(conn, hasher=owasp).set_index("memory_kib")["needs_rehash"]
    assert flags.to_dict() == {19456: False, 65536: True}


def test_no_users_gives_the_columns_and_no_rows(conn: Connection) -> None:
    audit = password_hash_audit(conn)
    assert audit.empty
    assert dict(audit.dtypes.astype(str)) == AUDIT_COLUMNS


def test_the_demo_users_are_hashed_with_the_current_parameters(tiny: Connection) -> None:
    audit = password_hash_audit(tiny)
    assert len(audit) == 1
    row = audit.iloc[0]
    assert row["algorithm"] == "argon2id" and not row["needs_rehash"]
    assert row["users"] == tiny.execute(text("select count(*) from users")).scalar_one()
    assert (row["memory_kib"], row["time_cost"], row["parallelism"]) == (
        CURRENT.memory_cost,
        CURRENT.time_cost,
        CURRENT.parallelism,
    )


@pytest.mark.parametrize(
    "stored",
    [
        f"$argon2id$v=19$m=65536,t=3,p=4${SALT}",  # no hash field
        f"{encoded()}$",  # a sixth "$", nothing after it
        f"{encoded()}${HASH}",  # a seventh field
        f"$argon2id$v=19$m=65536$t=3,p=4${SALT}${HASH}",  # six "$", the costs split
        # As long as a current hash, a "$" where the salt's eleventh character goes: the
        # current shape's LIKE pattern matches it ("_" matches "$"), the shape does not.
        f"$argon2id$v=19$m=65536,t=3,p=4${SALT[:10]}${SALT[11:]}${HASH}",
    ],
)
def test_values_without_exactly_five_dollars_are_unreadable(conn: Connection, stored: str) -> None:
    """The shape needs the five "$" of an encoded hash, no more and no fewer: the valid
    hash next to it is counted, the odd value is not taken for a parameter set."""
    add_users(conn, [stored, encoded()])
    audit = password_hash_audit(conn).set_index("users", drop=False)
    assert len(audit) == 2
    unreadable = audit[audit["algorithm"].isna()]
    assert unreadable["users"].tolist() == [1] and bool(unreadable["needs_rehash"].iloc[0])
    readable = audit[audit["algorithm"].notna()].iloc[0]
    assert (readable["salt_bytes"], readable["hash_bytes"]) == (16, 32)


def test_like_wildcards_in_a_stored_value_are_literal(conn: Connection) -> None:
    """The shapes seen in a sample become LIKE patterns: a "_" or "%" in a stored value's
    parameter part must match only itself, not the digit of another user's hash."""
    # The odd value is the commoner: its pattern is tried first.
    odd = f"$argon2id$v=19$m=6_536,t=3,p=4${SALT}${HASH}"
    add_users(conn, [odd, odd, encoded(m=61536)])
    audit = password_hash_audit(conn)
    assert audit["memory_kib"].dropna().tolist() == [61536]
    assert audit["users"].tolist() == [2, 1]
    assert audit["algorithm"].isna().tolist() == [True, False]
