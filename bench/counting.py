"""DynamoDB requests counted as the app makes them, through botocore's event hooks.

PynamoDB 6 sends every request through ``client._make_api_call``, so botocore's ``before-parameter-build``
and ``after-call`` events see each one. The app gives PynamoDB and its boto3 clients one shared botocore
session (``Runtime.botocore_session``); handlers registered there reach every client created
afterwards. Any other session registers ``botocore.handlers.BUILTIN_HANDLERS`` when it is made (the hook moto
uses too), so the counter is added there as well. A client copies its session's handlers when it is created:
install the counter, then rebind the app (``sandbox.stack.rebind_app``) so its clients are made anew.
"""

from __future__ import annotations

import contextlib
import math
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from botocore import handlers

READS = frozenset({"GetItem", "BatchGetItem", "Query", "Scan", "TransactGetItems"})
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"})
# DynamoDB reads in 4 KB units; an eventually consistent read costs half a unit.
READ_UNIT_BYTES = 4096


def kind_of(operation: str) -> str:
    """``read``, ``write`` or ``control`` (DescribeTable, CreateTable, ...)."""
    if operation in READS:
        return "read"
    if operation in WRITES:
        return "write"
    return "control"


def logical_table(name: str) -> str:
    """``haoping-bench-Tasks`` → ``Tasks`` (the physical prefix is the stage's, the suffix the model's)."""
    return name.rsplit("-", 1)[-1] if name else "?"


def _tables_of(params: dict) -> list[str]:
    if "TableName" in params:
        return [params["TableName"]]
    if "RequestItems" in params:
        return list(params["RequestItems"])
    if "TransactItems" in params:
        return [next(iter(item.values()))["TableName"] for item in params["TransactItems"]]
    return []


def attribute_size(value: dict) -> int:
    """Bytes DynamoDB bills for one attribute value in wire form (``{"S": "..."}``)."""
    (tag, inner), *_ = value.items()
    if tag == "S":
        return len(inner.encode("utf-8"))
    if tag == "N":
        return 1 + math.ceil(len(inner.lstrip("-").replace(".", "")) / 2)
    if tag == "B":
        return len(inner)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag in ("SS", "NS", "BS"):
        return sum(attribute_size({tag[0]: v}) for v in inner)
    if tag == "L":
        return 3 + sum(1 + attribute_size(v) for v in inner)
    if tag == "M":
        return 3 + sum(len(k.encode("utf-8")) + 1 + attribute_size(v) for k, v in inner.items())
    return 0


def item_size(item: dict) -> int:
    """Bytes of one item as DynamoDB sizes it (attribute names plus values)."""
    return sum(len(name.encode("utf-8")) + attribute_size(value) for name, value in item.items())


def query_read_units(items: list[dict], *, consistent: bool) -> float:
    """Read units a read consumed: its items' bytes in 4 KB steps, at least one step (half for eventual)."""
    steps = max(1, math.ceil(sum(item_size(i) for i in items) / READ_UNIT_BYTES))
    return steps * (1.0 if consistent else 0.5)


def _shared_session():
    # Only a session that exists already: making it here would miss handlers registered later (moto's).
    from chalicelib import container

    built = container._current
    return built.botocore_session if built is not None and "botocore_session" in vars(built) else None


@dataclass(eq=False)
class DynamoCounter:
    """Counts DynamoDB requests by phase, operation and logical table; tracks what queries examined."""

    phase: str = "setup"
    requests: Counter = field(default_factory=Counter)
    examined: Counter = field(default_factory=Counter)
    read_units: Counter = field(default_factory=Counter)
    consistent: Counter = field(default_factory=Counter)  # strongly consistent reads, by phase
    write_units: object = None  # a ``bench.write_units.WriteUnits`` meter, when one is attached
    # Bytes the app wrote to stdout (its JSON log lines and EMF metrics) by phase, when stdout is a file.
    log_bytes: Counter = field(default_factory=Counter)
    _log_mark: int | None = None
    _installed: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def meter_writes(self) -> DynamoCounter:
        """Also work out the write units of every write (``bench.write_units``)."""
        from bench.write_units import WriteUnits, schema_of_models

        self.write_units = WriteUnits(schema_of_models())
        return self

    def _hooks(self) -> tuple[tuple[str, object], ...]:
        return (("before-parameter-build.dynamodb", self._before), ("after-call.dynamodb", self._after))

    def install(self) -> DynamoCounter:
        """Hook every botocore session made from now on and the app's shared one if it exists already."""
        if not self._installed:
            for event, handler in self._hooks():
                handlers.BUILTIN_HANDLERS.append((event, handler))
            session = _shared_session()
            if session is not None:
                for event, handler in self._hooks():
                    session.register(event, handler)
            self._installed = True
        return self

    def uninstall(self) -> None:
        """Unhook (clients made while installed keep counting into this counter)."""
        session = _shared_session()
        for event, handler in self._hooks():
            with contextlib.suppress(ValueError):
                handlers.BUILTIN_HANDLERS.remove((event, handler))
            if session is not None:
                session.unregister(event, handler)
        self._installed = False

    @contextlib.contextmanager
    def phase_of(self, name: str) -> Iterator[None]:
        """Attribute requests made inside the block, and the app's output, to ``name``."""
        self._mark_output()
        previous, self.phase = self.phase, name
        try:
            yield
        finally:
            self._mark_output()
            self.phase = previous

    def _mark_output(self) -> None:
        # What stdout grew by since the last mark belongs to the phase that was current meanwhile.
        try:
            sys.stdout.flush()
            position = sys.stdout.tell()
        except (OSError, ValueError, AttributeError):
            return
        if self._log_mark is not None and position >= self._log_mark:
            self.log_bytes[self.phase] += position - self._log_mark
        self._log_mark = position

    def output_bytes(self, *, phases: tuple[str, ...]) -> int | None:
        """Bytes of app output in ``phases``; None when stdout was not a file (nothing could be measured)."""
        if self._log_mark is None:
            return None
        return sum(n for phase, n in self.log_bytes.items() if phase in phases)

    def reset(self) -> None:
        """Forget everything counted so far."""
        self.requests.clear()
        self.examined.clear()
        self.read_units.clear()
        self.consistent.clear()
        self.log_bytes.clear()

    def _before(self, params, model, context, **_) -> None:
        tables = _tables_of(params) or ["?"]
        table = "+".join(sorted({logical_table(t) for t in tables}))
        with self._lock:
            self.requests[(self.phase, model.name, table)] += 1
            if params.get("ConsistentRead") and kind_of(model.name) == "read":
                self.consistent[self.phase] += 1
        context["bench.table"] = table
        context["bench.consistent"] = bool(params.get("ConsistentRead"))
        context["bench.index"] = params.get("IndexName")
        context["bench.params"] = params
        context["bench.phase"] = self.phase

    def _after(self, http_response, parsed, model, context, **_) -> None:
        if self.write_units is not None and kind_of(model.name) == "write":
            code = (parsed.get("Error") or {}).get("Code", "") if http_response.status_code >= 300 else ""
            refused = code in ("ConditionalCheckFailedException", "TransactionCanceledException")
            if http_response.status_code < 300 or refused:
                phase = context.get("bench.phase", self.phase)
                self.write_units.write(phase, model.name, context.get("bench.params", {}), parsed, refused)
        if http_response.status_code >= 300 or model.name not in ("Query", "Scan", "GetItem", "BatchGetItem"):
            return
        with self._lock:
            self._count_read(parsed, model, context)

    def _count_read(self, parsed, model, context) -> None:
        target = context.get("bench.table", "?")
        if context.get("bench.index"):
            target += f"/{context['bench.index']}"
        key = (context.get("bench.phase", self.phase), target)
        if model.name == "BatchGetItem":
            # Billed per item read, each in 4 KB steps (half for an eventually consistent read).
            requested = context.get("bench.params", {}).get("RequestItems", {})
            for table, items in (parsed.get("Responses") or {}).items():
                consistent = bool(requested.get(table, {}).get("ConsistentRead"))
                self.read_units[key] += sum(query_read_units([i], consistent=consistent) for i in items)
            return
        if model.name == "GetItem":
            item = parsed.get("Item")
            self.read_units[key] += query_read_units([item] if item else [], consistent=context["bench.consistent"])
            return
        self.examined[key] += int(parsed.get("ScannedCount", 0))
        self.read_units[key] += query_read_units(parsed.get("Items", []), consistent=context["bench.consistent"])

    def units(self, *, phases: tuple[str, ...] | None = None) -> float:
        """Read units consumed by GetItem, Query and Scan in ``phases`` (all when None)."""
        return sum(u for (phase, _), u in self.read_units.items() if phases is None or phase in phases)

    # -- summaries ------------------------------------------------------------------------------------------
    def total(self, kind: str, *, phases: tuple[str, ...] | None = None) -> int:
        """Requests of ``kind`` (read/write/control), in ``phases`` (all when None)."""
        return sum(
            n
            for (phase, op, _), n in self.requests.items()
            if kind_of(op) == kind and (phases is None or phase in phases)
        )

    def breakdown(self, *, phases: tuple[str, ...] | None = None) -> dict[str, int]:
        """``"Operation Table" → count`` for the chosen phases, largest first."""
        out: Counter = Counter()
        for (phase, op, table), n in self.requests.items():
            if phases is None or phase in phases:
                out[f"{op} {table}"] += n
        return dict(out.most_common())

    def phase_totals(self) -> dict[str, dict[str, int]]:
        """Per phase: reads, writes and control-plane requests."""
        out: dict[str, Counter] = {}
        for (phase, op, _), n in self.requests.items():
            out.setdefault(phase, Counter())[kind_of(op)] += n
        return {phase: dict(c) for phase, c in sorted(out.items())}
