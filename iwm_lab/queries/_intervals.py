"""The intervals the platform-area queries give: a share's Wilson interval and a mean's
t-interval, computed in pandas from the counts and spreads the SQL returns."""

from __future__ import annotations

import numpy as np
import pandas as pd

CONFIDENCE = 0.95
Z95 = 1.959964  # the normal quantile of a 95 % two-sided interval


def wilson(
    successes: pd.Series, trials: pd.Series, z: float = Z95
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """The share ``successes / trials`` and its Wilson score interval: NaN for no trials;
    unlike the normal interval it stays inside 0-1 and is not empty at 0 % or 100 %."""
    n = trials.astype("float64").where(trials > 0)
    p = successes.astype("float64") / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return p, centre - half, centre + half


def t_interval(
    mean: pd.Series, sd: pd.Series, n: pd.Series, confidence: float = CONFIDENCE
) -> tuple[pd.Series, pd.Series]:
    """The t-interval of a mean of ``n`` values with sample standard deviation ``sd``: NaN
    below two values (one has no spread)."""
    # scipy costs about a second to import: only the functions with intervals pay it.
    from scipy import stats

    count = n.to_numpy(dtype="float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        quantile = stats.t.ppf(0.5 + confidence / 2, count - 1)
        half = quantile * sd.to_numpy(dtype="float64") / np.sqrt(count)
    half = np.where(count >= 2, half, np.nan)
    return mean - half, mean + half


def km_quantiles(
    durations: np.ndarray, events: np.ndarray, quantiles: tuple[float, ...]
) -> list[float]:
    """Kaplan-Meier quantiles of right-censored durations: for each ``q``, the first
    duration at which the estimated share of events reaches ``q`` (NaN if it never does).
    ``events`` is True where the event happened at the duration, False where the duration
    is a censored one (still waiting)."""
    # At a tie an event comes before a censoring: a report still waiting at 5 hours was at
    # risk of an action at 5 hours.
    order = np.lexsort((~events.astype(bool), durations))
    times, happened = durations[order], events.astype(bool)[order]
    at_risk = len(times) - np.arange(len(times))
    survival = np.cumprod(np.where(happened, 1 - 1 / at_risk, 1.0))
    found = []
    for q in quantiles:
        # A tolerance for the products' rounding: 2 of 4 is a share of exactly 0.5.
        reached = np.flatnonzero(happened & (1 - survival >= q - 1e-12))
        found.append(float(times[reached[0]]) if reached.size else np.nan)
    return found
