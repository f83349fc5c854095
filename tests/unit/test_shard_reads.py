"""Reads of every shard: several in flight, answered in the shards' order, cancelled when the caller stops."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.store.shard_reads import each_shard


class Reads:
    """A read that records how many run at once and which shards were read."""

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0
        self.read: list[int] = []

    def __call__(self, shard: int) -> str:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.delay * (1 + shard % 3))  # later shards may finish first
        with self.lock:
            self.running -= 1
            self.read.append(shard)
        return f"page of {shard}"


@pytest.mark.parametrize("at_once", [1, 3, 8])
def test_answers_come_in_the_shards_order_with_at_most_at_once_in_flight(at_once):
    reads = Reads()
    shards = [5, 6, 7, 0, 1, 2, 3, 4]  # rotated, as the sweep starts at the minute's shard

    answers = list(each_shard(reads, shards, at_once=at_once))

    assert answers == [f"page of {shard}" for shard in shards]
    assert sorted(reads.read) == sorted(shards)
    assert reads.most <= at_once
    if at_once > 1:
        assert reads.most > 1  # the reads overlapped


def test_a_caller_that_stops_early_leaves_the_reads_not_started_unread():
    reads = Reads(delay=0.05)
    shards = list(range(32))

    for answer in each_shard(reads, shards, at_once=2):
        assert answer == "page of 0"
        break

    assert 0 in reads.read
    assert len(reads.read) < len(shards)


def test_a_failed_read_is_raised_at_its_turn():
    def read(shard: int) -> int:
        if shard == 2:
            raise TimeoutError("shard 2")
        return shard

    answers = each_shard(read, [0, 1, 2, 3], at_once=4)
    assert [next(answers), next(answers)] == [0, 1]
    with pytest.raises(TimeoutError, match="shard 2"):
        next(answers)
