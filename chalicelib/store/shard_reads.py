"""Reads that go to every shard of a sharded index (the sweep's ``due`` shards, the robots' inbox shards): issued
several at once, so a tick waits about one round trip for all of them instead of one per shard."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor


def each_shard[T](read: Callable[[int], T], shards: Sequence[int], *, at_once: int) -> Iterator[T]:
    """``read(shard)`` for every shard, up to ``at_once`` in flight, answered in the order of ``shards``.

    A caller that stops early (its budget reached, its deadline near) cancels the reads not yet started and
    waits for the ones running; a read's error is raised when its answer's turn comes.
    """
    if at_once <= 1 or len(shards) <= 1:
        yield from map(read, shards)
        return
    pool = ThreadPoolExecutor(max_workers=min(at_once, len(shards)), thread_name_prefix="shard-read")
    try:
        answers = [pool.submit(read, shard) for shard in shards]
        for answer in answers:
            yield answer.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
