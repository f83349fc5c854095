"""The operators' command line: switches, a seller's record, failed tasks, the dead-letter queue, reconciliation,
skipped marketplace items and the audit trail, against the local stack or a deployed stage. Every command is audited.

    python -m chalicelib.ops [--endpoint URL] [--stage NAME | --table-prefix P] [--user NAME] <command> ...

Exit status: 0 done, 1 refused or not found, 2 usage error or a command this build cannot run.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import TextIO

from chalicelib.container import container
from chalicelib.domain.rules import RulesInvalid
from chalicelib.queue_names import queue_name
from chalicelib.services.operations import operator_actions as ops


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):
        self.print_usage(sys.stderr)
        raise UsageError(message)


class UsageError(Exception):
    """The command line is wrong."""


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (also the source of ``--help``)."""
    parser = _Parser(prog="python -m chalicelib.ops", description=__doc__.splitlines()[0])
    parser.add_argument("--endpoint", help="AWS endpoint URL (the local stack's moto server); sets AWS_ENDPOINT_URL")
    parser.add_argument("--stage", help="stage name; tables default to haoping-<stage>-*")
    parser.add_argument("--table-prefix", help="table name prefix (default: HAOPING_TABLE_PREFIX or haoping-<stage>)")
    parser.add_argument("--region", help="AWS region (default: AWS_REGION)")
    parser.add_argument("--review-queue-url", help="review queue URL (default: HAOPING_REVIEW_QUEUE_URL, else by name)")
    parser.add_argument("--user", help="operator name for the audit trail (default: HAOPING_OPERATOR or login name)")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    kill = commands.add_parser("kill", help="stop or resume all marketplace writes (global or one seller)")
    kill.add_argument("switch", choices=["on", "off"])
    kill.add_argument("--seller")
    dry = commands.add_parser("dry-run", help="put one seller in or out of dry-run")
    dry.add_argument("switch", choices=["on", "off"])
    dry.add_argument("--seller", help="the seller (a whole stage's dry-run is its HAOPING_DRY_RUN setting)")
    revoke = commands.add_parser("revoke-sessions", help="end every session of one seller (log it out everywhere)")
    revoke.add_argument("seller")
    show = commands.add_parser("show-seller", help="a seller's record, without secrets")
    show.add_argument("seller")
    for name, text in (("failed-tasks", "list failed tasks"), ("retry-failed", "schedule failed tasks again")):
        sub = commands.add_parser(name, help=text)
        sub.add_argument("--seller")
        sub.add_argument("--days", type=int, help="market days back (default: the rating window)")
        sub.add_argument("--limit", type=int, default=100)
    redrive = commands.add_parser("redrive-dlq", help="move dead-lettered review jobs back to the review queue")
    redrive.add_argument("--max", type=int, default=100, dest="max_messages", help="at most this many (default 100)")
    redrive.add_argument("--dlq-url", help="default: the review queue's redrive policy")
    reconcile = commands.add_parser("reconcile", help="run reconciliation for one seller now")
    reconcile.add_argument("seller")
    appeal = commands.add_parser(
        "extortion-clear", help="remove a buyer's extortion flag and its signals (an upheld appeal)"
    )
    who = appeal.add_mutually_exclusive_group(required=True)
    who.add_argument("--nick", help="the buyer's nick (hashed here; never stored or printed)")
    who.add_argument("--open-uid", help="the buyer's open uid (hashed here; never stored or printed)")
    rules = commands.add_parser("rules", help="the marketplace rules: show, validate or set the override")
    rule_commands = rules.add_subparsers(dest="rules_command", required=True, parser_class=_Parser)
    rule_commands.add_parser("show", help="the rules in force and the override")
    for name, text in (
        ("validate", "check an override file against the rules' bounds"),
        ("set", "make it the override"),
    ):
        rule_commands.add_parser(name, help=text).add_argument("file", help="a JSON override document")
    skipped = commands.add_parser("skipped", help="marketplace items skipped as unusable, newest first")
    skipped.add_argument("--limit", type=int, default=50)
    trail = commands.add_parser("audit", help="a seller's audit trail, newest first")
    trail.add_argument("seller", help=f"a seller id, or {ops.GLOBAL} for actions on no single seller")
    trail.add_argument("--limit", type=int, default=50)
    shared = commands.add_parser(
        "triage-corrections", help="the category corrections sellers share (anonymised), as JSON lines for training"
    )
    shared.add_argument("--limit", type=int, default=10_000)
    return parser


def configure(args: argparse.Namespace) -> None:
    """Point the store at the endpoint/stage given by flags (environment variables stay the defaults)."""
    env: dict[str, str] = {}
    if args.endpoint:
        env["AWS_ENDPOINT_URL"] = args.endpoint
        if not os.environ.get("AWS_ACCESS_KEY_ID"):
            # A local endpoint (moto) accepts any credentials; a real one refuses these loudly.
            env |= {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    if args.stage:
        env["HAOPING_STAGE"] = args.stage
        env["HAOPING_TABLE_PREFIX"] = f"haoping-{args.stage}"
    if args.table_prefix:
        env["HAOPING_TABLE_PREFIX"] = args.table_prefix
    if args.region:
        env["AWS_REGION"] = env["AWS_DEFAULT_REGION"] = args.region
    if args.review_queue_url:
        env["HAOPING_REVIEW_QUEUE_URL"] = args.review_queue_url
    if not env:
        return
    os.environ.update(env)
    from chalicelib.container import reset

    reset()


def _actor(args: argparse.Namespace) -> str:
    return "operator:" + (args.user or os.environ.get("HAOPING_OPERATOR") or getpass.getuser())


def _review_queue_url() -> str:
    from chalicelib.store import dead_letters

    configured = container().settings.review_queue_url
    return configured or dead_letters.queue_url(queue_name("reviews"))


def _emit(out: TextIO, args: argparse.Namespace, data, lines: list[str]) -> None:
    if args.json:
        print(json.dumps(data, ensure_ascii=False, indent=2, default=str), file=out)
    else:
        for line in lines:
            print(line, file=out)


def _task_row(task) -> dict:
    return {
        "seller_id": task.seller_id,
        "tid": task.tid,
        "state": task.state,
        "reason": task.reason,
        "attempts": int(task.attempts or 0),
        "failed_day": task.failed_day,
    }


def run(args: argparse.Namespace, out: TextIO) -> int:
    """Carry out one parsed command; returns the exit status."""
    now, actor = container().clock.now(), _actor(args)
    command = args.command
    if command in ("kill", "dry-run"):
        on = args.switch == "on"
        if command == "kill":
            ops.set_kill(on, seller_id=args.seller, actor=actor, now=now)
        elif args.seller is None:
            print("dry-run needs --seller: a whole stage's dry-run is its HAOPING_DRY_RUN setting", file=sys.stderr)
            return 2
        else:
            ops.set_dry_run(on, seller_id=args.seller, actor=actor, now=now)
        scope = f"seller {args.seller}" if args.seller else "global"
        _emit(out, args, {"command": command, "scope": scope, "on": on}, [f"{command} {args.switch} ({scope})"])
        return 0
    if command == "revoke-sessions":
        ops.revoke_sessions(args.seller, actor=actor, now=now)
        _emit(out, args, {"command": command, "seller": args.seller}, [f"sessions of {args.seller} ended"])
        return 0
    if command == "show-seller":
        summary = ops.seller_summary(args.seller, actor=actor, now=now)
        _emit(
            out,
            args,
            summary,
            [f"{key:>20}: {json.dumps(value, ensure_ascii=False)}" for key, value in summary.items()],
        )
        return 0
    if command in ("failed-tasks", "retry-failed"):
        days = ops.rating_window_days() if args.days is None else args.days
        if days < 1 or args.limit < 1:
            raise UsageError("--days and --limit must be at least 1")
        if command == "failed-tasks":
            found = [
                _task_row(t)
                for t in ops.failed_tasks(seller_id=args.seller, days=days, limit=args.limit, actor=actor, now=now)
            ]
            lines = [
                f"{r['failed_day']}  {r['seller_id']}  {r['tid']}  {r['reason']}  attempts={r['attempts']}"
                for r in found
            ]
            _emit(out, args, found, [*lines, f"{len(found)} failed task(s) in the last {days} day(s)"])
            return 0
        report = ops.retry_failed(seller_id=args.seller, days=days, limit=args.limit, actor=actor, now=now)
        data = {
            "retried": [list(key) for key in report.retried],
            "refused": [[*key, reason] for key, reason in report.refused.items()],
        }
        lines = [f"retried  {s}  {t}" for s, t in report.retried]
        lines += [f"refused  {s}  {t}  {reason}" for (s, t), reason in report.refused.items()]
        _emit(out, args, data, [*lines, f"{len(report.retried)} retried, {len(report.refused)} refused"])
        return 0
    if command == "redrive-dlq":
        if args.max_messages < 1:
            raise UsageError("--max must be at least 1")
        moved, left = ops.redrive_dead_letters(
            queue_url=_review_queue_url(), dlq_url=args.dlq_url, max_messages=args.max_messages, actor=actor, now=now
        )
        _emit(out, args, {"moved": moved, "left": left}, [f"moved {moved} message(s); about {left} left in the DLQ"])
        return 0
    if command == "reconcile":
        try:
            result = ops.reconcile(args.seller, actor=actor, now=now)
        except ops.ReconcileUnavailable as exc:
            print(f"reconcile: {exc}", file=sys.stderr)
            return 2
        _emit(out, args, result, [f"{key:>16}: {value}" for key, value in result.items()])
        return 0
    if command == "extortion-clear":
        from chalicelib.services.ratings import extortion_signals

        kind, identifier = ("nick", args.nick) if args.nick else ("open_uid", args.open_uid)
        cleared = extortion_signals.clear_flag(identifier, kind=kind, actor=actor, now=now)
        text = "flag and signals removed" if cleared else "nothing is stored about this buyer"
        _emit(out, args, {"command": command, "cleared": cleared}, [text])
        return 0 if cleared else 1
    if command == "rules":
        return _rules(args, out, actor=actor, now=now)
    if command == "skipped":
        if args.limit < 1:
            raise UsageError("--limit must be at least 1")
        found = ops.skipped(limit=args.limit, actor=actor, now=now)
        lines = [f"{r['at']}  {r.get('api')}  {r.get('ref') or '-'}  {r['reason']}" for r in found]
        _emit(out, args, found, lines or ["(no skipped items)"])
        return 0
    if command == "triage-corrections":
        if args.limit < 1:
            raise UsageError("--limit must be at least 1")
        for row in ops.shared_corrections(limit=args.limit, actor=actor, now=now):
            print(json.dumps(row, ensure_ascii=False), file=out)
        return 0
    records = ops.audit_trail(args.seller, limit=args.limit, actor=actor, now=now)
    rows = [
        {
            "at": r.ts_id.split("#")[0],
            "actor": r.actor,
            "action": r.action,
            "target": r.target,
            "result": r.result,
            "detail": r.detail,
        }
        for r in records
    ]
    lines = [f"{r['at']}  {r['actor']:<22} {r['action']:<24} {r['target'] or '-':<20} {r['result']}" for r in rows]
    _emit(out, args, rows, lines or ["(no audit records)"])
    return 0


def _rules(args: argparse.Namespace, out: TextIO, *, actor: str, now) -> int:
    if args.rules_command == "show":
        shown = ops.rules_show(actor=actor, now=now)
        _emit(out, args, shown, [json.dumps(shown, ensure_ascii=False, indent=2)])
        return 0
    try:
        with open(args.file, encoding="utf-8") as handle:
            document = json.load(handle)
    except (OSError, ValueError) as exc:
        print(f"error: cannot read {args.file}: {type(exc).__name__}", file=sys.stderr)
        return 1
    try:
        if args.rules_command == "validate":
            parsed = ops.rules_validate(document, actor=actor, now=now)
            _emit(out, args, {"valid": True, "version": parsed.version}, [f"valid: version {parsed.version}"])
            return 0
        changes = ops.rules_set(document, actor=actor, now=now)
    except RulesInvalid as exc:
        print(f"invalid rules: {exc.reason}", file=sys.stderr)
        return 1
    rows = [{"key": key, "from": before, "to": after} for key, before, after in changes]
    lines = [
        f"{r['key']}: {json.dumps(r['from'], ensure_ascii=False)} -> {json.dumps(r['to'], ensure_ascii=False)}"
        for r in rows
    ]
    _emit(out, args, rows, [*lines, f"rules set: {len(rows)} change(s)"])
    return 0


@contextlib.contextmanager
def _logs_to_stderr():
    """The services log JSON lines to stdout, as Lambda expects; while a command runs they go to stderr."""
    from chalicelib.telemetry import logger

    handlers = [h for h in logging.getLogger(logger.name).handlers if isinstance(h, logging.StreamHandler)]
    previous = [handler.setStream(sys.stderr) for handler in handlers]
    try:
        yield
    finally:
        for handler, stream in zip(handlers, previous, strict=True):
            handler.setStream(stream)


def main(argv: Sequence[str] | None = None, *, out: TextIO | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), configure the store, run the command; the exit status."""
    out = out or sys.stdout
    try:
        args = build_parser().parse_args(sys.argv[1:] if argv is None else list(argv))
        configure(args)
        with _logs_to_stderr():
            return run(args, out)
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except ops.UnknownSeller as exc:
        print(f"error: no seller {exc}", file=sys.stderr)
        return 1
    except ops.NoDeadLetterQueue as exc:
        print(f"error: the queue {exc} has no dead-letter queue; give --dlq-url", file=sys.stderr)
        return 1
