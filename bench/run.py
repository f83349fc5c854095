"""`make bench`: every figure as one JSON line on stdout and in bench/results.jsonl.

python -m bench.run [--only 1,3] [--quick]

Each figure is measured in the same run as its baseline: the app runs in-process on moto with the sandbox
marketplace, the app's logs go to build/bench.log, progress goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).with_name("results.jsonl")
ROOT_LOG = Path(__file__).resolve().parent.parent / "build" / "bench.log"
FAULT_RATE = 0.05  # transient marketplace errors injected into the replayed day (figure 2's retries)


def _pipeline_figures(quick: bool) -> list[dict]:
    from bench.day import hot_shop_figure, marketplace_figure, replay_day, requests_figure
    from bench.throughput import run_burst, throughput_figure

    day = replay_day(sellers=3, trades=20 if quick else 40, cold=True, fault_rate=FAULT_RATE)
    burst = run_burst(shops=2 if quick else 4, trades_per_shop=25 if quick else 50)
    return [
        requests_figure(day, burst),
        marketplace_figure(day, FAULT_RATE),
        throughput_figure(burst),
        hot_shop_figure(day, burst),
    ]


def _jobs(quick: bool) -> list[dict]:
    from bench.scale import jobs_figure

    return [jobs_figure(sellers=4_000 if quick else 20_000, token_due=100 if quick else 500)]


def _push_to_posted(quick: bool) -> list[dict]:
    from bench.scale import latency_figure

    return [latency_figure(trades=60 if quick else 200)]


def _worker(quick: bool) -> list[dict]:
    from bench.scale import worker_figure

    return [worker_figure(trades=80 if quick else 200)]


def _sweep_sender(quick: bool) -> list[dict]:
    from bench.scale import sweep_rate_figure

    return [sweep_rate_figure(jobs=3_000 if quick else 10_000)]


def _sweep(quick: bool) -> list[dict]:
    from bench.sweep_cost import sweep_figure

    return [sweep_figure(small=2_000 if quick else 10_000, large=20_000 if quick else 100_000)]


def _cold_start(quick: bool) -> list[dict]:
    from bench.cold_start import cold_start_figure

    return [cold_start_figure(runs=3 if quick else 5)]


def _latency(quick: bool) -> list[dict]:
    from bench.throughput import webhook_latency_figure

    return [webhook_latency_figure(batches=10 if quick else 20)]


def _lint(quick: bool) -> list[dict]:
    from bench.lint_cost import lint_figure

    return [lint_figure()]


def _package(quick: bool) -> list[dict]:
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


def _triage(quick: bool) -> list[dict]:
    from bench.triage import triage_figures

    return triage_figures(quick)


# Figure numbers → how to measure them; 1 and 12 use both the replayed day (2) and the burst (3).
FIGURES: dict[tuple[int, ...], Callable[[bool], list[dict]]] = {
    (5,): _cold_start,
    (7,): _package,
    (4,): _sweep,
    (6,): _latency,
    (1, 2, 3, 12): _pipeline_figures,
    (8,): _jobs,
    (9,): _push_to_posted,
    (10,): _worker,
    (11,): _sweep_sender,
    (16,): _lint,
    (20, 21, 22, 23, 24, 25): _triage,
}


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="make bench", description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated figure numbers (default: all)")
    parser.add_argument("--quick", action="store_true", help="smaller runs, for a quick look (not for the record)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    from sandbox.run import app_output_to

    args = parse_args(sys.argv[1:] if argv is None else argv)
    wanted = {int(n) for n in args.only.split(",") if n.strip()}
    ROOT_LOG.parent.mkdir(exist_ok=True)
    started = time.perf_counter()
    context = {"run_at": datetime.now(UTC).isoformat(timespec="seconds"), "python": platform.python_version()}
    if args.quick:
        context["quick"] = True
    lines = []
    with ROOT_LOG.open("w", encoding="utf-8") as log, RESULTS.open("w", encoding="utf-8") as out:
        for numbers, measure in FIGURES.items():
            if wanted and not wanted & set(numbers):
                continue
            print(f"bench: figure {'+'.join(map(str, numbers))} …", file=sys.stderr, flush=True)
            figure_started = time.perf_counter()
            with app_output_to(log):
                figures = measure(args.quick)
            seconds = round(time.perf_counter() - figure_started, 1)
            for number, figure in zip(numbers, figures, strict=True):
                if wanted and number not in wanted:
                    continue
                line = json.dumps({"figure": number, **figure, "seconds": seconds, **context}, ensure_ascii=False)
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
