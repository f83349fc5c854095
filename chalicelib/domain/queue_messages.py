"""The app's own queue messages: one pydantic model per kind, and per queue the union its one router parses.

Every message names its ``kind``; a body is parsed once, where the queue's worker receives it
(``handlers.sqs_batch.parse_records``), and what is not a message of that queue is rejected by its message id
without holding up its batch. Producers build the model and send ``body()``.

The review queue carries one kind only, so a review job leaves its kind off the wire (the queue implies it), and
the per-seller jobs' messages written before kinds were named are told apart as they always were (a list of
``sellers``, else a shard to plan): messages already queued when this shape ships are still understood.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, TypeAdapter, model_validator

# Marketplace times are bounded to 2000–2099: 2100-01-01 is past any second a job can name.
LAST_SECOND = 4_102_444_800
# Halving a day down to a second leaves at most 17 parts to read; more is not a job of ours.
MAX_PENDING = 40

SellerId = Annotated[str, Field(min_length=1, max_length=64)]
Span = tuple[Annotated[int, Field(ge=0, lt=LAST_SECOND)], Annotated[int, Field(ge=0, lt=LAST_SECOND)]]


class QueueMessage(BaseModel):
    """A message of the app's own queues: immutable, no unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    def body(self) -> dict[str, Any]:
        """The message as it is sent (JSON-ready)."""
        return self.model_dump(mode="json", exclude_none=True)


class ReviewJob(QueueMessage):
    """Post (or settle) one due task: the sweep and the moment a task becomes due send it."""

    kind: Literal["review"] = Field("review", exclude=True)
    seller_id: SellerId
    tid: Annotated[str, Field(min_length=1, max_length=64)]


class _RunMessage(QueueMessage):
    job: Annotated[str, Field(min_length=1, max_length=32)]
    run: Annotated[str, Field(min_length=1, max_length=32)]
    at: Annotated[int, Field(ge=0, lt=LAST_SECOND)]  # the run's time, epoch seconds


class JobPlan(_RunMessage):
    """Plan one seller shard of a per-seller job's run, from ``after`` (the index's cursor) on."""

    kind: Literal["plan"] = "plan"
    shard: Annotated[int, Field(ge=0)]
    after: dict[str, Any] | None = None


class JobSellers(_RunMessage):
    """Serve these sellers in a per-seller job's run."""

    kind: Literal["sellers"] = "sellers"
    sellers: list[SellerId]


class PermitJob(QueueMessage):
    """Open a just-authorized seller's marketplace messages to the app."""

    kind: Literal["permit"] = "permit"
    seller_id: SellerId


class BackfillJob(QueueMessage):
    """One step of a seller's install backfill: ``refunds``, or page ``page`` of the trades of day ``window``
    (0 = oldest); ``span`` narrows that day to a part of it (epoch seconds, inclusive) once the day had to be split,
    and ``pending`` lists the day's other parts still to read."""

    kind: Literal["backfill"] = "backfill"
    seller_id: SellerId
    run: int
    step: Literal["refunds", "trades"]
    window: Annotated[int, Field(ge=0)] = 0
    page: Annotated[int, Field(ge=1)] = 1
    span: Span | None = None
    pending: Annotated[tuple[Span, ...], Field(max_length=MAX_PENDING)] = ()
    # The pages of a part are read from the last one back once its first read learned the total.
    down: bool = False

    @model_validator(mode="after")
    def _ordered_spans(self) -> BackfillJob:
        for lo, hi in (*((self.span,) if self.span else ()), *self.pending):
            if lo > hi:
                raise ValueError("a span ends before it starts")
        return self

    def body(self) -> dict[str, Any]:
        body = super().body()
        if self.span is None:
            body.pop("pending", None)  # a whole day's job names no parts
        if not self.down:
            body.pop("down", None)
        return body


def _kind(body: Any) -> str | None:
    # Per-seller job messages queued before kinds were named carry none: a list of sellers, else a plan.
    if isinstance(body, dict):
        return body.get("kind") or ("sellers" if "sellers" in body else "plan")
    return getattr(body, "kind", None)


JobMessage = Annotated[Annotated[JobPlan, Tag("plan")] | Annotated[JobSellers, Tag("sellers")], Discriminator(_kind)]
ReconcileMessage = Annotated[
    Annotated[JobPlan, Tag("plan")]
    | Annotated[JobSellers, Tag("sellers")]
    | Annotated[PermitJob, Tag("permit")]
    | Annotated[BackfillJob, Tag("backfill")],
    Discriminator(_kind),
]

# Per queue, what its worker accepts (built at a worker's first message, not when a module imports this one).
_DEFERRED = ConfigDict(defer_build=True)
REVIEW_QUEUE: TypeAdapter[ReviewJob] = TypeAdapter(ReviewJob)
JOB_QUEUE: TypeAdapter[JobPlan | JobSellers] = TypeAdapter(JobMessage, config=_DEFERRED)
# The reconcile queue still accepts backfill jobs: those queued there before the backfill queue existed.
RECONCILE_QUEUE: TypeAdapter[JobPlan | JobSellers | PermitJob | BackfillJob] = TypeAdapter(
    ReconcileMessage, config=_DEFERRED
)
BACKFILL_QUEUE: TypeAdapter[BackfillJob] = TypeAdapter(BackfillJob)
