"""Use cases of the operators: switches, a seller's record, failed tasks, the dead-letter queue, the audit trail.

Every action, reads included, appends an audit record with the operator as actor: in the seller's partition
when it concerns one seller, else in ``GLOBAL``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from chalicelib.config import default_rules_document
from chalicelib.domain.market_time import market_date
from chalicelib.domain.rules import Rules, RulesInvalid, parse_rules, rules_diff
from chalicelib.services import skipped_items
from chalicelib.services.reviews.task_actions import ActionRefused, TaskNotFound, retry_task
from chalicelib.services.rules import rules_in_force
from chalicelib.services.sellers.seller_state import view_of
from chalicelib.services.sessions import seller_sessions
from chalicelib.store import audit, control, dead_letters, outbox, sellers, task_queries, triage_corrections
from chalicelib.store import robots as robot_store
from chalicelib.store.models import Audit, Task

GLOBAL = "_global"  # audit partition of actions that concern no single seller


class UnknownSeller(LookupError):
    """No seller with this id."""


class ReconcileUnavailable(RuntimeError):
    """This build has no per-seller reconciliation use case."""


class NoDeadLetterQueue(LookupError):
    """The review queue names no dead-letter queue, and none was given."""


def _audit(seller_id: str | None, actor: str, action: str, *, now: datetime, target=None, result="ok", detail=None):
    audit.append(seller_id or GLOBAL, actor=actor, action=action, target=target, result=result, detail=detail, now=now)


def _iso(epoch) -> str | None:
    return datetime.fromtimestamp(int(epoch), UTC).isoformat() if epoch else None


def set_kill(on: bool, *, seller_id: str | None, actor: str, now: datetime) -> None:
    """Stop (or resume) every marketplace write, globally or for one seller; workers see it within a minute."""
    if seller_id is None:
        control.set_kill_global(on, now=now)
    else:
        _require_seller(seller_id)
        control.set_kill_seller(seller_id, on, now=now)
    _audit(seller_id, actor, "ops.kill", now=now, target=seller_id or "global", result="on" if on else "off")


def set_dry_run(on: bool, *, seller_id: str, actor: str, now: datetime) -> None:
    """Put one seller in (or out of) dry-run: decisions are recorded, nothing is posted."""
    _require_seller(seller_id)
    control.set_dry_run_seller(seller_id, on, now=now)
    _audit(seller_id, actor, "ops.dry_run", now=now, target=seller_id, result="on" if on else "off")


def revoke_sessions(seller_id: str, *, actor: str, now: datetime) -> None:
    """End every session of the seller (its dashboard and API clients must log in again); within a minute
    everywhere, at once in this container. Audited as ``sessions.revoke`` with the operator as actor."""
    _require_seller(seller_id)
    seller_sessions.end_all(seller_id, now=now, actor=actor)


def _require_seller(seller_id: str):
    seller = sellers.get(seller_id)
    if seller is None:
        raise UnknownSeller(seller_id)
    return seller


def seller_summary(seller_id: str, *, actor: str, now: datetime) -> dict:
    """What an operator needs to know about a seller; tokens and their ciphertexts are never part of it."""
    seller = _require_seller(seller_id)
    view = view_of(seller)
    switches = control.read_switches(fresh=True)
    _audit(seller_id, actor, "ops.show_seller", now=now, target=seller_id)
    return {
        "seller_id": seller.seller_id,
        "nick": seller.nick,
        "status": seller.status,
        "plan": seller.plan,
        "paid_until": _iso(seller.paid_until),
        "entitled": view.entitled(now),
        "features": sorted(view.features()),
        "hourly_cap": view.hourly_cap(),
        "settings_version": int(seller.settings_version or 0),
        "settings": view.settings.model_dump(mode="json"),
        "has_tokens": bool(seller.tokens),
        "token_expires_at": _iso(seller.token_expires_at),
        "refresh_expires_at": _iso(seller.refresh_expires_at),
        "kill_switch": seller_id in switches.kill_sellers,
        "kill_global": switches.kill_global,
        "dry_run": seller_id in switches.dry_run_sellers or view.settings.dry_run,
        "auto_review_paused": seller.review_paused_at is not None,
        "auto_review_paused_at": _iso(seller.review_paused_at),
        "created_at": _iso(seller.created_at),
        "updated_at": _iso(seller.updated_at),
        # The seller's group robots as support needs them ("why do my DingTalk alerts not arrive?"): never a key.
        "robots": {
            channel: {k: entry.get(k) for k in ("hint", "added_at", "paused_until", "refused")}
            for channel, entry in robot_store.of(seller).items()
        },
        "unread_alerts": outbox.unread_count(seller_id, now=now),
    }


def failed_tasks(*, seller_id: str | None, days: int, limit: int, actor: str, now: datetime) -> list[Task]:
    """Failed tasks of the last ``days`` market days, newest day first, at most ``limit`` (no table scan)."""
    found = _failed(seller_id, days, limit, now)
    _audit(seller_id, actor, "ops.failed_tasks", now=now, detail={"days": days, "found": len(found)})
    return found


def _failed(seller_id: str | None, days: int, limit: int, now: datetime) -> list[Task]:
    keys: list[tuple[str, str]] = []
    today = market_date(now)
    for back in range(days):
        if len(keys) >= limit:
            break
        day = (today - timedelta(days=back)).isoformat()
        keys += task_queries.failed_on_day(day, seller_id=seller_id, limit=limit - len(keys))
    return task_queries.fetch_keys(keys)


@dataclass
class RetryReport:
    """Which failed tasks were scheduled again, and why the others were not."""

    retried: list[tuple[str, str]] = field(default_factory=list)
    refused: dict[tuple[str, str], str] = field(default_factory=dict)


def retry_failed(*, seller_id: str | None, days: int, limit: int, actor: str, now: datetime) -> RetryReport:
    """Schedule failed tasks again (each one audited by the retry itself), at most ``limit`` of them."""
    report = RetryReport()
    for task in _failed(seller_id, days, limit, now):
        key = (task.seller_id, task.tid)
        try:
            retry_task(task.seller_id, task.tid, now=now, actor=actor)
        except ActionRefused as exc:
            report.refused[key] = exc.code
        except TaskNotFound:
            report.refused[key] = "gone"
        else:
            report.retried.append(key)
    detail = {"retried": len(report.retried), "refused": len(report.refused), "days": days}
    _audit(seller_id, actor, "ops.retry_failed", now=now, detail=detail)
    return report


def redrive_dead_letters(
    *, queue_url: str, dlq_url: str | None, max_messages: int, actor: str, now: datetime
) -> tuple[int, int]:
    """Move up to ``max_messages`` dead-lettered review jobs back to ``queue_url``; (moved, still there)."""
    from chalicelib.services.operations.redrive import redrive

    source = dlq_url or dead_letters.dead_letter_url(queue_url)
    if source is None:
        raise NoDeadLetterQueue(queue_url)
    moved = redrive(source, queue_url, max_messages=max_messages)
    left = dead_letters.depth(source)
    _audit(None, actor, "ops.redrive_dlq", now=now, target=source, detail={"moved": moved, "left": left})
    return moved, left


def reconcile(seller_id: str, *, actor: str, now: datetime) -> dict:
    """Run the daily reconciliation for one seller now; its outcome as a dict."""
    _require_seller(seller_id)
    try:
        module = importlib.import_module("chalicelib.services.jobs.reconcile_seller")
        run = module.reconcile_seller
    except (ImportError, AttributeError):
        raise ReconcileUnavailable("reconciliation is not part of this build") from None
    outcome = run(seller_id, now=now)
    result = dict(vars(outcome)) if hasattr(outcome, "__dict__") else {"result": outcome}
    _audit(seller_id, actor, "ops.reconcile", now=now, target=seller_id, detail=result)
    return result


def rules_show(*, actor: str, now: datetime) -> dict:
    """The rules in force (the shipped default merged with the override) and the override itself."""
    effective = rules_in_force()
    _audit(None, actor, "ops.rules.show", now=now, target=effective.version)
    return {
        "version": effective.version,
        "override": control.read_rules_override(),
        "effective": effective.model_dump(mode="json"),
    }


def rules_validate(document: object, *, actor: str, now: datetime) -> Rules:
    """``document`` as an override, validated against its bounds; raises ``RulesInvalid`` saying why."""
    try:
        parsed = parse_rules(default_rules_document(), document)  # type: ignore[arg-type]
    except RulesInvalid as exc:
        _audit(None, actor, "ops.rules.validate", now=now, result="invalid", detail={"reason": exc.reason[:500]})
        raise
    _audit(None, actor, "ops.rules.validate", now=now, target=parsed.version)
    return parsed


def rules_set(document: object, *, actor: str, now: datetime) -> list[tuple[str, object, object]]:
    """Make ``document`` the rules override once it validates (``RulesInvalid`` otherwise, nothing written);
    every container uses it within a minute. Returns what changed against the rules in force, which the audit
    entry records (keys and versions)."""
    parsed = rules_validate(document, actor=actor, now=now)
    current = rules_in_force()
    changes = rules_diff(current, parsed)
    control.write_rules_override(dict(document), now=now)  # type: ignore[call-overload]
    detail = {"from": current.version, "to": parsed.version, "changed": [key for key, _, _ in changes][:200]}
    _audit(None, actor, "ops.rules.set", now=now, target=parsed.version, detail=detail)
    return changes


def skipped(*, limit: int, actor: str, now: datetime) -> list[dict]:
    """The marketplace items skipped as unusable, newest first (this read is recorded)."""
    found = skipped_items.recent(limit=limit)
    _audit(None, actor, "ops.skipped", now=now, detail={"shown": len(found)})
    return found


def audit_trail(seller_id: str, *, limit: int, actor: str, now: datetime) -> list[Audit]:
    """The newest audit records of a seller (this read is itself recorded, after it)."""
    records = audit.trail(seller_id, limit=limit)
    _audit(seller_id, actor, "ops.audit", now=now, target=seller_id)
    return records


def shared_corrections(*, limit: int, actor: str, now: datetime) -> list[dict]:
    """The complaint-category corrections sellers chose to share (anonymised), newest first, for training."""
    found = triage_corrections.shared(limit=limit)
    _audit(None, actor, "ops.triage_corrections", now=now, detail={"rows": len(found)})
    return found


def rating_window_days() -> int:
    """Days in which a failed task can still be retried (the marketplace's rating window)."""
    return rules_in_force().rating_window_days
