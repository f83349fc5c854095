"""Figure 5: cold start — importing the app in a fresh interpreter against importing boto3, median of several runs.

Each function of the app is the same ``app.py`` with a different handler: the import of ``app`` is what every
function pays before its first event, and ``app`` plus one handler module is what that function pays in all.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLD_START_TARGET = 1.5
SNIPPET = "import time; t = time.perf_counter(); {statement}; print(time.perf_counter() - t)"
FUNCTIONS = {
    "webhook": "chalicelib.handlers.webhooks",
    "sweep": "chalicelib.handlers.sweep",
    "worker": "chalicelib.handlers.worker",
}


def import_seconds(statement: str) -> float:
    """Seconds ``statement`` takes in a fresh interpreter (started in the project root)."""
    out = subprocess.run(
        [sys.executable, "-c", SNIPPET.format(statement=statement)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def cold_start_figure(*, runs: int = 7) -> dict:
    """Median import times; runs of the different statements are interleaved so drift hits them alike."""
    statements = {
        "boto3": "import boto3",
        "app": "import app",
        **{name: f"import app, {module}" for name, module in FUNCTIONS.items()},
    }
    samples: dict[str, list[float]] = {name: [] for name in statements}
    for _ in range(runs):
        for name, statement in statements.items():
            samples[name].append(import_seconds(statement))
    median = {name: statistics.median(values) for name, values in samples.items()}
    ratio = median["app"] / median["boto3"]
    return {
        "name": "cold_start_import",
        "value": round(ratio, 2),
        "unit": "median seconds of `import app` ÷ `import boto3`, fresh interpreters",
        "baseline": {"import_boto3_ms": round(median["boto3"] * 1000, 1)},
        "target": f"<= {COLD_START_TARGET}",
        "met": ratio <= COLD_START_TARGET,
        "detail": {
            "import_app_ms": round(median["app"] * 1000, 1),
            "runs": runs,
            "function_first_event_ms": {name: round(median[name] * 1000, 1) for name in FUNCTIONS},
            "function_ratio_to_boto3": {name: round(median[name] / median["boto3"], 2) for name in FUNCTIONS},
        },
    }
