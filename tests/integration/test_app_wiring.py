"""app.py's wiring: every handler it names by string exists with the entry point it calls, and the Chalice command
line refuses to deploy or package without per-stage queue names."""

from __future__ import annotations

import ast
import importlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.queue_names import QUEUE_ENV

ROOT = Path(__file__).resolve().parents[2]


def _named_entry_points() -> set[tuple[str, str]]:
    """(handler module, attribute) for every ``_handler("<module>").<attribute>`` in app.py."""
    found = set()
    for node in ast.walk(ast.parse((ROOT / "app.py").read_text(encoding="utf-8"))):
        call = node.value if isinstance(node, ast.Attribute) else None
        if (
            isinstance(call, ast.Call)
            and isinstance(call.func, ast.Name)
            and call.func.id == "_handler"
            and isinstance(call.args[0], ast.Constant)
        ):
            found.add((call.args[0].value, node.attr))
    return found


NAMED = sorted(_named_entry_points())


def test_app_names_its_handlers_by_string():
    # The scan itself must see the wiring: every route and queue of app.py calls a handler this way.
    assert len(NAMED) > 20
    assert ("worker", "handle") in NAMED and ("seller_api", "settings") in NAMED


@pytest.mark.parametrize(("module", "attribute"), NAMED, ids=[f"{m}.{a}" for m, a in NAMED])
def test_every_handler_app_names_imports_and_has_its_entry_point(module, attribute):
    handler = importlib.import_module(f"chalicelib.handlers.{module}")
    assert callable(getattr(handler, attribute, None)), f"chalicelib.handlers.{module} has no {attribute}"


def _load_app_as_chalice(command: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    # What the Chalice command line does first: import app.py inside its own process.
    code = f"import sys, chalice.cli; sys.argv = ['chalice', {command!r}, 'out']; import app"
    return subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.parametrize("command", ["deploy", "package"])
def test_a_plain_chalice_deploy_without_stage_queue_names_is_refused(command):
    env = {k: v for k, v in os.environ.items() if k not in QUEUE_ENV.values()}
    done = _load_app_as_chalice(command, env)
    assert done.returncode != 0
    assert "HAOPING_REVIEW_QUEUE_NAME is not set" in done.stderr
    assert "python -m deploy.package --stage" in done.stderr


def test_the_packager_names_give_the_command_line_its_queues():
    env = {**os.environ, **{variable: f"haoping-prod-{queue}" for queue, variable in QUEUE_ENV.items()}}
    done = _load_app_as_chalice("package", env)
    assert done.returncode == 0, done.stderr[-2000:]


def test_outside_the_command_line_the_local_names_apply(monkeypatch):
    from chalicelib.queue_names import queue_name

    for variable in QUEUE_ENV.values():
        monkeypatch.delenv(variable, raising=False)
    assert [queue_name(q) for q in QUEUE_ENV] == [
        "haoping-reviews",
        "haoping-reconcile",
        "haoping-tokens",
        "haoping-billing",
        "haoping-backfill",
    ]
    monkeypatch.setenv("HAOPING_TOKENS_QUEUE_NAME", "haoping-prod-tokens")
    assert queue_name("tokens") == "haoping-prod-tokens"
