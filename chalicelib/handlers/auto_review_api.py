"""Entry point: the seller's daily controls under ``/api`` — pause and resume automatic reviews, when the next
reviews go out, the built-in phrase library, and the what-if of settings before they are saved.

The routes share the seller API's authentication, error shape and body parsing (``seller_api``).
"""

from __future__ import annotations

from chalice import Response

from chalicelib import i18n
from chalicelib.container import container
from chalicelib.handlers import api_models as m
from chalicelib.handlers.seller_api import _body, _ok, _route
from chalicelib.services.reviews import auto_review
from chalicelib.services.reviews import what_if as what_if_service
from chalicelib.store import phrase_data

UPCOMING = 20


def _view(seller_id: str, state: auto_review.AutoReviewState) -> m.AutoReviewView:
    cap, rows = what_if_service.upcoming(seller_id, now=container().clock.now(), limit=UPCOMING)
    return m.AutoReviewView(
        paused=state.paused,
        paused_at=state.paused_at,
        waiting=state.waiting,
        hourly_cap=cap,
        upcoming=[
            m.UpcomingReviewView(
                tid=r.tid, item_title=r.item_title, buyer=r.buyer, due_at=r.due_at, planned_at=r.planned_at
            )
            for r in rows
        ],
    )


@_route
def status(request, seller_id: str) -> Response:
    """Whether automatic reviews run, and the next reviews with when they would go out."""
    return _ok(_view(seller_id, auto_review.state_of(seller_id, now=container().clock.now())))


@_route
def pause(request, seller_id: str) -> Response:
    """Pause automatic reviews; the open ones wait."""
    _body(request, m.NoBody, seller_id, optional=True)
    return _ok(_view(seller_id, auto_review.pause(seller_id, now=container().clock.now())))


@_route
def resume(request, seller_id: str) -> Response:
    """Resume automatic reviews."""
    _body(request, m.NoBody, seller_id, optional=True)
    return _ok(_view(seller_id, auto_review.resume(seller_id, now=container().clock.now())))


@_route
def phrases(request, seller_id: str) -> Response:
    """The built-in phrases by product type, named in the seller's language."""
    lang = i18n.request_language(request.headers)
    library = phrase_data.library()
    views = [m.PhraseTypeView(key=g.key, name=g.name(lang), phrases=list(g.phrases)) for g in library.groups.values()]
    return _ok(m.PhraseLibraryView(types=views, total=len(library.phrases(list(library.groups)))))


@_route
def what_if(request, seller_id: str) -> Response:
    """The last 30 market days replayed under the tried settings; nothing is saved."""
    patch = _body(request, m.WhatIfRequest, seller_id, optional=True).model_dump(exclude_unset=True)
    report = what_if_service.what_if(seller_id, patch, now=container().clock.now())
    sim = report.simulated
    return _ok(
        m.WhatIfView(
            first_day=report.first_day,
            last_day=report.last_day,
            trades=report.trades,
            truncated=report.truncated,
            simulated=m.WhatIfCounts(
                posted=sim.posted, waiting=sim.waiting, expired=sim.expired, skipped=sim.skipped, held=sim.held
            ),
            posted_by_day=[m.WhatIfDayView(day=day, posted=n) for day, n in sim.posted_by_day.items()],
            posted_by_hour=list(sim.posted_by_hour),
            actual=report.actual,
        )
    )
