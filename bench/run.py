"""`make bench`: every figure as one JSON line on stdout and in bench/results.jsonl.

python -m bench.run [--only 1,3] [--full]

Each figure is measured in the same run as its baseline: the app runs in-process on moto (DynamoDB Local where a
figure says so) with the sandbox marketplace, the app's logs go to build/bench.log, progress goes to stderr. Every
line says the sizes it ran at (``sizes``: the default ones, or ``--full``'s) and, in ``detail.conditions`` where
they matter, what else its number depends on.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("results.jsonl")
ROOT_LOG = Path(__file__).resolve().parent.parent / "build" / "bench.log"
FAULT_RATE = 0.05  # transient marketplace errors injected into the replayed day (figure 2's retries)


def _pipeline_figures(
    *, sellers: int, trades: int, step_minutes: int, quiet_step_hours: int, burst_shops: int, burst_trades_per_shop: int
) -> list[dict]:
    from bench.cost import ServiceCounter, cost_figure
    from bench.day import hot_shop_figure, marketplace_figure, replay_day, requests_figure
    from bench.throughput import run_burst

    steps = {"step_minutes": step_minutes, "quiet_step_hours": quiet_step_hours}
    with ServiceCounter().counting() as day_services:
        day = replay_day(
            sellers=sellers, trades=trades, cold=True, fault_rate=FAULT_RATE, services=day_services, **steps
        )
    with ServiceCounter().counting() as burst_services:
        burst = run_burst(shops=burst_shops, trades_per_shop=burst_trades_per_shop, services=burst_services)
    return [
        requests_figure(day, burst),
        marketplace_figure(day, FAULT_RATE),
        hot_shop_figure(day, burst),
        cost_figure(day, burst, day_services, burst_services),
    ]


def _worker_floor(*, trades: int) -> list[dict]:
    from bench.worker_floor import worker_floor_figure

    return [worker_floor_figure(trades=trades)]


def _jobs(*, sellers: int, token_due: int) -> list[dict]:
    from bench.scale import jobs_figure

    return [jobs_figure(sellers=sellers, token_due=token_due)]


def _push_to_posted(*, trades: int) -> list[dict]:
    from bench.scale import latency_figure

    return [latency_figure(trades=trades)]


def _worker(*, trades: int) -> list[dict]:
    from bench.scale import worker_figure

    return [worker_figure(trades=trades)]


def _sweep_sender(*, jobs: int) -> list[dict]:
    from bench.scale import sweep_rate_figure

    return [sweep_rate_figure(jobs=jobs)]


def _sweep(*, small: int, large: int) -> list[dict]:
    from bench.sweep_cost import sweep_figure

    return [sweep_figure(small=small, large=large)]


def _cold_start(*, rehearsals: int, boto3_runs: int) -> list[dict]:
    from bench.cold_start import cold_start_figure

    return [cold_start_figure(rehearsals=rehearsals, runs=boto3_runs)]


def _latency(*, batches: int) -> list[dict]:
    from bench.throughput import webhook_latency_figure

    return [webhook_latency_figure(batches=batches)]


def _install_burst(*, sellers: int, trades_per_day: int, dearer: list[int]) -> list[dict]:
    from bench.install_burst import install_burst_figure

    return [install_burst_figure(sellers=sellers, trades_per_day=trades_per_day, dearer=tuple(dearer))]


def _lint() -> list[dict]:
    from bench.lint_cost import lint_figure

    return [lint_figure()]


def _package() -> list[dict]:
    return [package_figure()]


def package_figure() -> dict:
    """Figure 7: the deployment zip, built offline from this environment into a scratch directory.

    Offline, the vendored wheels are this machine's (their native code may not be aarch64), but the closure is
    the deployed one, so the size is within a few percent of ``make package``'s, which is reported beside it
    when ``build/package`` holds one.
    """
    import tempfile

    from deploy.package import DEFAULT_OUT, ZIP_TARGET_BYTES, build

    with tempfile.TemporaryDirectory(prefix="haoping-bench-package-") as scratch:
        bundle = build(Path(scratch) / "out", offline=True)
        summary = bundle.summary()
    summary.pop("zip")
    built = DEFAULT_OUT / "deployment.zip"
    if built.exists():
        summary["make_package_zip_mb"] = round(built.stat().st_size / 2**20, 2)
    return {
        "name": "deployment_zip_size",
        "value": summary["zip_mb"],
        "unit": "MB, deployment.zip of `chalice package` (the deployed closure, copied from this environment)",
        "baseline": {"before_lean_bundle_mb": 25.1, "lambda_zip_limit_mb": 50, "lambda_unzipped_limit_mb": 250},
        "target": f"≤ {ZIP_TARGET_BYTES // 2**20} MB",
        "met": bundle.within_target,
        "detail": summary,
    }


def _triage(*, speed_rounds: int) -> list[dict]:
    from bench.triage import triage_figures

    return triage_figures(speed_rounds=speed_rounds)


@dataclass(frozen=True)
class Group:
    """Figures measured together, and the sizes they run at: by default (fits ``make bench`` in about six minutes
    on a 2-core machine) and with ``--full`` (the sizes the figures were first recorded at)."""

    measure: Callable[..., list[dict]]
    default: dict = field(default_factory=dict)
    full: dict = field(default_factory=dict)


# Figure numbers → how to measure them; 1, 2, 12 and 13 share the replayed day and the burst.
FIGURES: dict[tuple[int, ...], Group] = {
    (5,): Group(_cold_start, {"rehearsals": 1, "boto3_runs": 3}, {"rehearsals": 3, "boto3_runs": 5}),
    (7,): Group(_package),
    (4,): Group(_sweep, {"small": 1_000, "large": 10_000}, {"small": 10_000, "large": 100_000}),
    (6,): Group(_latency, {"batches": 2}, {"batches": 20}),
    (1, 2, 12, 13): Group(
        _pipeline_figures,
        {
            "sellers": 3,
            "trades": 20,
            "step_minutes": 60,
            "quiet_step_hours": 6,
            "burst_shops": 2,
            "burst_trades_per_shop": 50,
        },
        {
            "sellers": 3,
            "trades": 40,
            "step_minutes": 5,
            "quiet_step_hours": 1,
            "burst_shops": 4,
            "burst_trades_per_shop": 50,
        },
    ),
    (3,): Group(_worker_floor, {"trades": 60}, {"trades": 300}),
    (8,): Group(_jobs, {"sellers": 1_200, "token_due": 40}, {"sellers": 20_000, "token_due": 500}),
    (9,): Group(_push_to_posted, {"trades": 20}, {"trades": 200}),
    (10,): Group(_worker, {"trades": 60}, {"trades": 200}),
    (11,): Group(_sweep_sender, {"jobs": 2_000}, {"jobs": 10_000}),
    (16,): Group(_lint),
    (26,): Group(
        _install_burst,
        {"sellers": 5, "trades_per_day": 1, "dearer": [10]},
        {"sellers": 5, "trades_per_day": 6, "dearer": [3, 10]},
    ),
    (20, 21, 22, 23, 24, 25, 27): Group(_triage, {"speed_rounds": 3}, {"speed_rounds": 10}),
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated figure numbers (default: all)")
    parser.add_argument("--full", action="store_true", help="the larger sizes the figures were first recorded at")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from sandbox.run import app_output_to

    args = parse_args(sys.argv[1:] if argv is None else argv)
    wanted = {int(n) for n in args.only.split(",") if n.strip()}
    ROOT_LOG.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    context = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version()}
    scale = "full" if args.full else "default"
    lines = []
    with ROOT_LOG.open("w", encoding="utf-8") as log, RESULTS.open("w", encoding="utf-8") as out:
        for numbers, group in FIGURES.items():
            if wanted and not wanted & set(numbers):
                continue
            print(f"bench: figure {'+'.join(map(str, numbers))} …", file=sys.stderr, flush=True)
            figure_started = time.perf_counter()
            sizes = group.full if args.full else group.default
            with app_output_to(log):
                figures = group.measure(**sizes)
            seconds = round(time.perf_counter() - figure_started, 1)
            for number, figure in zip(numbers, figures, strict=True):
                if wanted and number not in wanted:
                    continue
                row = {"figure": number, **figure, "sizes": {"scale": scale, **sizes}, "seconds": seconds, **context}
                line = json.dumps(row, ensure_ascii=False)
                print(line, flush=True)
                out.write(line + "\n")
                out.flush()
                lines.append(figure)
    missed = [f["name"] for f in lines if f.get("met") is False]
    total = time.perf_counter() - started
    summary = f"bench: {len(lines)} figures in {total:.0f}s; targets missed: {', '.join(missed) or 'none'}"
    print(summary, file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
