"""The minimum and median of a noisy figure's rounds (three by default): on a shared machine one run is luck."""

from __future__ import annotations

import statistics
from collections.abc import Iterable

ROUNDS = 3


def spread(values: Iterable[float], digits: int = 3) -> dict[str, float]:
    """``{"min": …, "median": …}`` of ``values``, rounded to ``digits``."""
    values = list(values)
    return {"min": round(min(values), digits), "median": round(statistics.median(values), digits)}
