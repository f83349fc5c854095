"""Figure 5: cold start of the shipped bundle — a function's import plus its first event, against `import boto3`.

Measured on the rehearsal (``deploy.rehearse``): each function of the packaged template runs from the unpacked zip in
its own fresh interpreter that sees only the bundle and the runtime's packages, as Lambda runs it. A function's
cold start is its handler import (Lambda's init phase) plus its first event, which builds the container: settings,
clients, secrets, the first table reads. The baseline is `import boto3` in the same kind of interpreter. The
first events talk to moto's server on this machine, so they include its latency; a warm event of the same
function shows how much of the first one is that latency rather than cold start.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNTIME = ROOT / "build" / "rehearse" / "runtime"
COLD_START_TARGET = 5.0
BOTO3_SNIPPET = (
    "import sys, time; sys.path[:0] = [{runtime!r}]; t = time.perf_counter(); import boto3; "
    "print(time.perf_counter() - t)"
)


def boto3_import_seconds(runs: int) -> float:
    """Median seconds of `import boto3` in an isolated interpreter that sees only the runtime's packages."""
    samples = []
    for _ in range(runs):
        done = subprocess.run(
            [sys.executable, "-I", "-S", "-c", BOTO3_SNIPPET.format(runtime=str(RUNTIME))],
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(float(done.stdout.strip().splitlines()[-1]))
    return statistics.median(samples)


def cold_start_figure(*, runs: int = 5) -> dict:
    """Heaviest function's (init + first event) ÷ `import boto3`, from one rehearsal of the packaged bundle."""
    from deploy.rehearse import rehearse

    report = rehearse(stage="prod")
    boto3_s = boto3_import_seconds(runs)
    functions: dict[str, dict] = {}
    for logical, info in report.functions.items():
        events = [inv for inv in report.invocations if inv.function == logical]
        if not events or info.get("init_ms") is None:
            continue
        warm = [inv.ms for inv in events[1:] if not inv.cold]
        functions[logical] = {
            "init_ms": round(info["init_ms"], 1),
            "first_event_ms": round(events[0].ms, 1),
            "cold_start_ms": round(info["init_ms"] + events[0].ms, 1),
            "warm_event_ms": round(statistics.median(warm), 1) if warm else None,
        }
    heaviest = max(functions, key=lambda name: functions[name]["cold_start_ms"])
    ratio = functions[heaviest]["cold_start_ms"] / (boto3_s * 1000)
    return {
        "name": "cold_start_first_event",
        "value": round(ratio, 2),
        "unit": "(handler import + first event) of the heaviest function ÷ `import boto3`, packaged bundle",
        "baseline": {"import_boto3_ms": round(boto3_s * 1000, 1)},
        "target": f"<= {COLD_START_TARGET}",
        "met": ratio <= COLD_START_TARGET and report.ok,
        "detail": {"heaviest": heaviest, "functions": functions, "rehearsal_ok": report.ok},
    }
