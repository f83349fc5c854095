"""Use case: answer a buyer's neutral/bad rating with the seller's explanation, once, through the write guard."""

from __future__ import annotations

from datetime import datetime

from chalicelib.container import get_settings
from chalicelib.domain import guard, templates
from chalicelib.domain.lint import lint
from chalicelib.marketplace import errors as mkt
from chalicelib.services import runtime
from chalicelib.services.seller_state import SellerView
from chalicelib.services.seller_tokens import access_token
from chalicelib.store import audit, control
from chalicelib.store.idempotency import run_once
from chalicelib.store.models import Task
from chalicelib.telemetry import count, logger

ACTION = "taobao.traderate.explain.add"


def explain(seller_id: str, task: Task, view: SellerView, *, now: datetime, template: str | None = None) -> str:
    """Post the explanation for ``task``'s rating at most once; returns what happened.

    ``template`` is the reply to render (the bad-review center's choice); without it one of the seller's
    general explanation templates is used.
    """
    if not task.oid or not (template or view.settings.explain_templates):
        return "nothing_to_explain"
    rules = runtime.rules()
    if template is None:
        index = templates.choose_template(view.settings.explain_templates, "random", task.tid, 0)
        template = view.settings.explain_templates[index]
    text = templates.render(
        template,
        templates.variables_for(
            buyer_masked=task.buyer_masked or "",
            item_title=task.item_title or "",
            shop_name=view.seller.nick,
            trade_end=datetime.fromtimestamp(task.trade_end, now.tzinfo),
        ),
    )
    switches = control.read_switches()
    decision = guard.decide(
        guard.GuardInput(
            kill_global=switches.kill_global,
            kill_seller=seller_id in switches.kill_sellers,
            dry_run=get_settings().stage_dry_run or view.settings.dry_run or seller_id in switches.dry_run_sellers,
            lint_problems=tuple(lint(text, rules, kind="explain")),
            posts_last_hour=0,
            hourly_cap=max(1, view.hourly_cap()),
            recent_attempts=0,
            recent_failures=0,
        ),
        rules,
    )

    def send() -> dict:
        if decision.verdict != "allow":
            result = decision.verdict
        else:
            session = access_token(view.seller, now=now)
            if session is None:
                result = "no_session"
            else:
                try:
                    runtime.top_client().traderate_explain_add(session, task.oid, text)
                    result = "explained"
                except mkt.MarketplaceError as exc:
                    result = type(exc).__name__
        detail = {"would_post": text} if decision.verdict == "dry_run" else {"chars": len(text)}
        audit.append(seller_id, actor="worker", action=ACTION, target=task.tid, result=result, detail=detail, now=now)
        count(f"Explain_{result}")
        logger.info("explanation", extra={"seller_id": seller_id, "tid": task.tid, "result": result})
        return {"result": result}

    return run_once("explain", {"seller_id": seller_id, "tid": task.tid}, send)["result"]
