"""The operator CLI, run in-process through ``main(argv)`` against moto (and once against moto's server)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from chalicelib.domain.task_state import State
from chalicelib.ops import main
from chalicelib.services.operations.operator_actions import GLOBAL
from chalicelib.store import audit, control, sellers, tasks
from tests.helpers import make_seller
from tests.integration.test_seller_api import seed_task


def ops(*argv: str) -> int:
    return main(["--user", "alice", *argv])


def ops_actions(seller_id: str) -> list[tuple[str, str, str]]:
    """(actor, action, result) of the operator records in a seller's (or the global) audit partition."""
    return [(r.actor, r.action, r.result) for r in audit.trail(seller_id, limit=100) if r.action.startswith("ops.")]


@pytest.fixture
def seller(aws, clock) -> str:
    return make_seller(clock.now())


def test_kill_switch_global_and_per_seller_is_set_and_audited(seller, capsys):
    assert ops("kill", "on") == 0
    assert control.read_switches(fresh=True).kill_global is True
    assert ops("kill", "on", "--seller", seller) == 0
    assert seller in control.read_switches(fresh=True).kill_sellers
    assert ops("kill", "off") == 0 and ops("kill", "off", "--seller", seller) == 0
    switches = control.read_switches(fresh=True)
    assert switches.kill_global is False and seller not in switches.kill_sellers
    assert sorted(ops_actions(GLOBAL)) == [("operator:alice", "ops.kill", "off"), ("operator:alice", "ops.kill", "on")]
    assert sorted(ops_actions(seller)) == [("operator:alice", "ops.kill", "off"), ("operator:alice", "ops.kill", "on")]
    assert "kill on (global)" in capsys.readouterr().out


def test_switches_for_an_unknown_seller_change_nothing(aws, capsys):
    assert ops("kill", "on", "--seller", "2299999999") == 1
    assert ops("dry-run", "on", "--seller", "2299999999") == 1
    switches = control.read_switches(fresh=True)
    assert not switches.kill_sellers and not switches.dry_run_sellers
    assert "no seller" in capsys.readouterr().err


def test_dry_run_per_seller_and_a_clear_refusal_without_one(seller, capsys):
    assert ops("dry-run", "on", "--seller", seller) == 0
    assert seller in control.read_switches(fresh=True).dry_run_sellers
    assert ops("dry-run", "off", "--seller", seller) == 0
    assert seller not in control.read_switches(fresh=True).dry_run_sellers
    assert ops("dry-run", "on") == 2
    assert "HAOPING_DRY_RUN" in capsys.readouterr().err
    assert [a for _, a, _ in ops_actions(seller)] == ["ops.dry_run", "ops.dry_run"]


def test_show_seller_prints_the_record_without_secrets(seller, capsys):
    stored = sellers.get(seller)
    assert ops("--json", "show-seller", seller) == 0
    out = capsys.readouterr().out
    shown = json.loads(out)
    assert (shown["seller_id"], shown["nick"], shown["plan"], shown["entitled"]) == (
        seller,
        "test_shop",
        "FW_GOODS-1000000-2",
        True,
    )
    assert shown["has_tokens"] is True and "tokens" not in shown
    for blob in json.dumps(stored.tokens).split('"'):
        if len(blob) > 12:
            assert blob not in out
    assert "6201sessiontoken" not in out and "6202refreshtoken" not in out
    assert ops("show-seller", seller) == 0
    assert "test_shop" in capsys.readouterr().out
    assert ops("show-seller", "2299999999") == 1


def _seed_failures(clock, first: str, second: str) -> None:
    seed_task(first, "3900000000000501", clock.now(), state=State.FAILED, reason="permission_denied")
    seed_task(first, "3900000000000502", clock.now(), state=State.POSTED)
    clock.advance(86400)
    seed_task(first, "3900000000000503", clock.now(), state=State.FAILED, reason="transient_exhausted")
    seed_task(second, "3900000000000601", clock.now(), state=State.FAILED, reason="isv.unknown")


def test_failed_tasks_are_listed_from_the_failed_index_per_day(seller, clock, capsys):
    other = make_seller(clock.now(), user_id="2200000009", nick="other_shop")
    _seed_failures(clock, seller, other)
    assert ops("--json", "failed-tasks") == 0
    listed = json.loads(capsys.readouterr().out)
    assert [(r["seller_id"], r["tid"]) for r in listed][-1] == (seller, "3900000000000501")
    assert {r["tid"] for r in listed} == {"3900000000000501", "3900000000000503", "3900000000000601"}
    assert ops("--json", "failed-tasks", "--seller", seller, "--days", "1") == 0
    assert [r["tid"] for r in json.loads(capsys.readouterr().out)] == ["3900000000000503"]
    assert ops("failed-tasks", "--limit", "1") == 0
    assert "1 failed task(s)" in capsys.readouterr().out
    assert ops("failed-tasks", "--days", "0") == 2


def test_retry_failed_reschedules_what_it_can_and_says_why_not(seller, clock, capsys):
    seed_task(seller, "3900000000000701", clock.now(), state=State.FAILED, reason="transient_exhausted")
    seed_task(
        seller,
        "3900000000000702",
        clock.now(),
        state=State.FAILED,
        trade_end=clock.now() - timedelta(days=16),
        reason="transient_exhausted",
    )
    assert ops("retry-failed", "--seller", seller) == 0
    out = capsys.readouterr().out
    assert "1 retried, 1 refused" in out and "window_closed" in out
    retried = tasks.get(seller, "3900000000000701")
    assert (retried.state, retried.failed_day, retried.attempts) == ("scheduled", None, 0)
    assert tasks.get(seller, "3900000000000702").state == "failed"
    records = [(r.actor, r.action) for r in audit.trail(seller, limit=20)]
    assert ("operator:alice", "task.retry") in records and ("operator:alice", "ops.retry_failed") in records
    assert ops("--json", "failed-tasks", "--seller", seller) == 0
    assert [r["tid"] for r in json.loads(capsys.readouterr().out)] == ["3900000000000702"]


def test_redrive_moves_dead_letters_back_in_bounded_steps(aws, capsys):
    sqs = aws["sqs"]
    for i in range(3):
        sqs.send_message(QueueUrl=aws["dlq_url"], MessageBody=json.dumps({"seller_id": "1", "tid": str(i)}))
    assert ops("redrive-dlq", "--max", "2") == 0
    assert "moved 2 message(s)" in capsys.readouterr().out
    assert ops("--json", "redrive-dlq") == 0
    assert json.loads(capsys.readouterr().out) == {"moved": 1, "left": 0}
    bodies = []
    while got := sqs.receive_message(QueueUrl=aws["queue_url"], MaxNumberOfMessages=10).get("Messages", []):
        bodies += [json.loads(m["Body"])["tid"] for m in got]
        sqs.delete_message_batch(
            QueueUrl=aws["queue_url"],
            Entries=[{"Id": m["MessageId"], "ReceiptHandle": m["ReceiptHandle"]} for m in got],
        )
    assert sorted(bodies) == ["0", "1", "2"]
    assert [a for _, a, _ in ops_actions(GLOBAL)] == ["ops.redrive_dlq", "ops.redrive_dlq"]
    assert ops("redrive-dlq", "--max", "0") == 2


def test_reconcile_runs_for_one_seller_and_is_audited(shop, capsys):
    assert ops("--json", "reconcile", shop) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["outcome"] in ("done", "skipped")
    assert [a for _, a, _ in ops_actions(shop)] == ["ops.reconcile"]


def test_reconcile_says_so_when_this_build_has_none(seller, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "chalicelib.services.jobs.reconcile_seller", None)
    assert ops("reconcile", seller) == 2
    assert "reconciliation is not part of this build" in capsys.readouterr().err


def test_audit_prints_the_trail_newest_first_and_records_the_read(seller, clock, capsys):
    clock.advance(1)  # audit keys are time-ordered: the kill comes after the onboarding
    ops("kill", "on", "--seller", seller)
    clock.advance(1)
    capsys.readouterr()
    assert ops("--json", "audit", seller, "--limit", "5") == 0
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["action"] == "ops.kill" and rows[0]["actor"] == "operator:alice"
    assert rows[-1]["action"] == "seller.onboard"
    assert ops_actions(seller)[0][1] == "ops.audit"


def test_the_endpoint_and_stage_come_from_flags(aws, monkeypatch):
    from chalicelib.container import container
    from chalicelib.ops.cli import build_parser, configure

    for key in ("AWS_ENDPOINT_URL", "HAOPING_TABLE_PREFIX", "HAOPING_STAGE"):
        monkeypatch.setenv(key, "")
    configure(build_parser().parse_args(["--endpoint", "http://127.0.0.1:9", "--stage", "prod", "audit", "x"]))
    settings = container().settings
    assert (os.environ["AWS_ENDPOINT_URL"], settings.stage, settings.table_prefix) == (
        "http://127.0.0.1:9",
        "prod",
        "haoping-prod",
    )
    configure(build_parser().parse_args(["--table-prefix", "haoping-blue", "audit", "x"]))
    assert container().settings.table_prefix == "haoping-blue"


def test_it_works_against_a_stack_over_http(monkeypatch):
    """The local stack's shape: moto's server at an endpoint, tables named by a prefix; both given as flags."""
    from moto.server import ThreadedMotoServer

    from chalicelib.store.tables import create_tables
    from sandbox.stack import rebind_app

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server._server.server_address[:2]
        url = f"http://{host}:{port}"
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.setenv(key, "testing")
        monkeypatch.setenv("AWS_REGION", "ap-southeast-1")
        monkeypatch.setenv("AWS_ENDPOINT_URL", url)
        monkeypatch.setenv("HAOPING_TABLE_PREFIX", "haoping-ops")
        rebind_app()
        create_tables()
        # The environment now points elsewhere: only the flags lead to the stack.
        monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
        monkeypatch.setenv("HAOPING_TABLE_PREFIX", "haoping-elsewhere")
        rebind_app()
        assert main(["--endpoint", url, "--table-prefix", "haoping-ops", "--user", "bob", "kill", "on"]) == 0
        assert control.read_switches(fresh=True).kill_global is True
        assert ops_actions(GLOBAL) == [("operator:bob", "ops.kill", "on")]
    finally:
        server.stop()
        monkeypatch.undo()
        rebind_app()


def test_the_module_runs_as_a_program():
    done = subprocess.run(
        [sys.executable, "-m", "chalicelib.ops", "--help"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0
    for command in (
        "kill",
        "dry-run",
        "show-seller",
        "failed-tasks",
        "retry-failed",
        "redrive-dlq",
        "reconcile",
        "audit",
    ):
        assert command in done.stdout


def test_shared_triage_corrections_export_as_json_lines_without_who_made_them(seller, clock, capsys):
    from chalicelib.store import triage_corrections

    triage_corrections.record(
        seller,
        text="颜色不对 13812345678",
        before="quality",
        after="color_diff",
        model="m",
        share=True,
        now=clock.now(),
    )
    triage_corrections.record(
        seller, text="太慢了", before="other", after="logistics", model="m", share=False, now=clock.now()
    )
    assert ops("triage-corrections") == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(r["text"], r["from"], r["to"]) for r in rows] == [("颜色不对 #", "quality", "color_diff")]
    assert seller not in json.dumps(rows) and ops_actions(GLOBAL) == [
        ("operator:alice", "ops.triage_corrections", "ok")
    ]
    assert ops("triage-corrections", "--limit", "0") == 2
