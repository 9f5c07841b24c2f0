"""What "now" means for notebooks and reports: the clock, or the moment IWM_AS_OF pins."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from iwm_lab import clock
from iwm_lab.exceptions import ConfigurationError
from iwm_lab.settings import Settings, get_settings


@pytest.fixture
def pinned(monkeypatch: pytest.MonkeyPatch):
    def pin(value: str | None) -> None:
        if value is None:
            monkeypatch.delenv("IWM_AS_OF", raising=False)
        else:
            monkeypatch.setenv("IWM_AS_OF", value)
        get_settings.cache_clear()

    yield pin
    get_settings.cache_clear()


def test_now_is_the_clock_in_utc(pinned) -> None:
    pinned(None)
    before = datetime.now(UTC).replace(tzinfo=None)
    moment = clock.now()
    assert moment.tzinfo is None
    assert before <= moment <= before + timedelta(seconds=5)
    assert clock.as_of(None) >= moment


def test_iwm_as_of_pins_now(pinned) -> None:
    pinned("2026-11-01")
    assert clock.now() == datetime(2026, 11, 1)
    assert clock.as_of() == datetime(2026, 11, 1)
    # An explicit as-of still wins over the pinned clock.
    assert clock.as_of("2026-10-15T06:30") == datetime(2026, 10, 15, 6, 30)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (date(2026, 11, 1), datetime(2026, 11, 1)),
        ("2026-11-01", datetime(2026, 11, 1)),
        ("2026-11-01T08:00+02:00", datetime(2026, 11, 1, 6)),
        (datetime(2026, 11, 1, 6, tzinfo=UTC), datetime(2026, 11, 1, 6)),
    ],
)
def test_as_of_accepts_dates_moments_and_text(value: object, expected: datetime) -> None:
    assert clock.as_of(value) == expected  # type: ignore[arg-type]


def test_a_bad_pin_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IWM_AS_OF", "yesterday")
    with pytest.raises(ConfigurationError, match="IWM_AS_OF must be an ISO date"):
        Settings.from_env()
