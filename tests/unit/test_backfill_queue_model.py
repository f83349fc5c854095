"""The queue model behind bench figure 26: the daily reconcile's finish with install backfills on its queue or on
their own (``bench.install_burst.simulate``), from fixed per-message costs."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.install_burst import BACKFILL_JOBS_PER_INSTALL, Costs, Wiring, simulate

WIRING = Wiring(
    reconcile_consumers=10, backfill_consumers=10, reconcile_batch=5, backfill_batch=5, shards=4, sellers_per_message=25
)
COSTS = Costs(backfill_batch_s=1.0, backfill_fill=5, plan_s=0.05, seller_s=0.8)


def _run(costs: Costs, *, installs: int, shared: bool, arrivals=(-1.0, 1.0)) -> dict:
    return simulate(costs, WIRING, installs=installs, arrivals=arrivals, existing=5_000, shared=shared)


def test_without_installs_the_run_takes_its_own_work_on_its_consumers():
    alone = _run(COSTS, installs=0, shared=False)
    # 5,000 sellers in 200 messages of 25 (20 s each), five at once per consumer, ten consumers: four rounds of 20 s
    # after the plan messages' round.
    assert alone["reconcile_done_s"] == pytest.approx(0.05 + 4 * 20.0)


@settings(max_examples=15, deadline=None)
@given(
    installs=st.integers(min_value=1, max_value=400),
    dearer=st.sampled_from([1.0, 3.0, 10.0]),
    start=st.sampled_from([-2.0, -0.5, 0.0]),
)
def test_on_their_own_queue_backfills_never_move_the_runs_finish(installs, dearer, start):
    costs = Costs(COSTS.backfill_batch_s * dearer, 5, COSTS.plan_s, COSTS.seller_s)
    alone = _run(costs, installs=0, shared=False)
    beside = _run(costs, installs=installs, shared=False, arrivals=(start, 1.0))
    assert beside["reconcile_done_s"] == alone["reconcile_done_s"]


@pytest.mark.parametrize("dearer", [3.0, 10.0])
def test_on_the_reconcile_queue_backfills_take_the_runs_consumers(dearer):
    costs = Costs(COSTS.backfill_batch_s * dearer, 5, COSTS.plan_s, COSTS.seller_s)
    # Installs in the six minutes before the run: a backlog of their jobs is in front of it.
    own = _run(costs, installs=2_000, shared=False, arrivals=(-0.1, 0.1))
    shared = _run(costs, installs=2_000, shared=True, arrivals=(-0.1, 0.1))
    assert shared["reconcile_done_s"] > own["reconcile_done_s"]


def test_every_install_gets_its_whole_chain_of_jobs():
    done = _run(COSTS, installs=50, shared=False, arrivals=(0.0, 0.1))
    # One batch of each seller's chain after another: a wait of at least the chain's length in batches.
    assert done["backfill_wait_median_s"] >= BACKFILL_JOBS_PER_INSTALL * COSTS.backfill_batch_s
