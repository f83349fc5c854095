"""The container's caches load a missed key once, however many threads miss it together."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from chalicelib.runtime import TtlCache


def test_threads_that_miss_the_same_key_together_share_one_load():
    cache, loads = TtlCache(60), []
    start = threading.Barrier(6)

    def load():
        loads.append(1)
        time.sleep(0.05)  # long enough for every other thread to miss the key meanwhile
        return "token"

    def ask(_):
        start.wait()
        return cache.get_or_load(("seller", "access"), load)

    with ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(ask, range(6)))

    assert answers == ["token"] * 6
    assert len(loads) == 1


def test_different_keys_load_at_the_same_time():
    cache = TtlCache(60)
    running, most, lock = [0], [0], threading.Lock()

    def load(key):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.05)
        with lock:
            running[0] -= 1
        return key

    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda key: cache.get_or_load(key, lambda: load(key)), ["a", "b", "c", "d"]))

    assert answers == ["a", "b", "c", "d"]
    assert most[0] > 1


def test_a_load_that_fails_stores_nothing_and_the_next_caller_loads_again():
    cache, calls = TtlCache(60), []

    def failing():
        calls.append("failed")
        raise TimeoutError("KMS did not answer")

    with pytest.raises(TimeoutError):
        cache.get_or_load("key", failing)
    assert "key" not in cache
    assert cache.get_or_load("key", lambda: "value") == "value"
    assert cache.get_or_load("key", failing) == "value"  # fresh: not loaded again
    assert calls == ["failed"]
