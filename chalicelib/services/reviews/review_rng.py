"""The one source of chance in scheduling reviews: the sellers' random delays, drawn when a review is created and
again when a hold on it is lifted."""

from __future__ import annotations

import random

from chalicelib.container import container


def rng() -> random.Random:
    """One ``random.Random`` per container; tests seed it (``rng().seed(n)``) to make runs repeatable."""
    return container().kept("schedule_rng", random.Random)
