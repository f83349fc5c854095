"""Write units as DynamoDB bills them, worked out from the writes the app sends and what comes back.

DynamoDB bills a write by the larger of the item's size before and after it, in 1 KB steps (twice inside a
transaction), plus every global secondary index entry it writes: one unit to add or delete an entry, two when
the entry's key changes (a delete and a put), none when neither the index's keys nor its projected attributes
change. A write refused by its condition still costs one unit. To know "before", the meter keeps the last image
of every item it has seen written (PutItem's item, UpdateItem's ALL_NEW answer, or the update applied to the
last image, as inside a transaction).

Units are counted per phase and per target (``Tasks``, ``Tasks/due``), and per partition key value, so the hottest
key of a burst can be read off.
"""

from __future__ import annotations

import copy
import math
import re
import threading
from collections import Counter
from dataclasses import dataclass

from bench.counting import item_size, logical_table

KB = 1024


@dataclass(frozen=True)
class Index:
    name: str
    hash_key: str
    range_key: str | None
    projected: frozenset[str] | None  # None: every attribute (ALL); empty: keys only


@dataclass(frozen=True)
class Table:
    hash_key: str
    range_key: str | None
    indexes: tuple[Index, ...]


def schema_of_models() -> dict[str, Table]:
    """Logical table name → keys and global secondary indexes, from the app's PynamoDB models and the template."""
    from chalicelib.store.models import MODELS

    tables = {}
    for model in MODELS:
        schema = model._get_schema()
        keys = {k["KeyType"]: k["AttributeName"] for k in schema["key_schema"]}
        indexes = []
        for gsi in schema.get("global_secondary_indexes", []):
            gkeys = {k["KeyType"]: k["AttributeName"] for k in gsi["key_schema"]}
            projection = gsi["projection"]
            kind = projection["ProjectionType"]
            projected = None if kind == "ALL" else frozenset(projection.get("NonKeyAttributes", []))
            indexes.append(Index(gsi["index_name"], gkeys["HASH"], gkeys.get("RANGE"), projected))
        tables[model.Meta.logical_name] = Table(keys["HASH"], keys.get("RANGE"), tuple(indexes))
    # powertools' own table (once-only effects) has no model: its key as the template creates it.
    from deploy.package import IDEMPOTENCY

    tables[IDEMPOTENCY["logical"]] = Table(IDEMPOTENCY["key"], None, ())
    return tables


def _value(attr: dict | None):
    return None if attr is None else next(iter(attr.values()))


class WriteUnits:
    """The meter: ``write(phase, operation, params, parsed, failed)`` for every DynamoDB write the app makes."""

    def __init__(self, tables: dict[str, Table]) -> None:
        self.tables = tables
        self.units: Counter = Counter()  # (phase, target) → units
        self.by_key: Counter = Counter()  # (phase, target, partition key value) → units
        self._images: dict[tuple, dict] = {}
        self._lock = threading.Lock()

    def total(self, *, phases: tuple[str, ...] | None = None) -> float:
        """Units written in ``phases`` (all when None)."""
        return sum(u for (phase, _), u in self.units.items() if phases is None or phase in phases)

    def breakdown(self, *, phases: tuple[str, ...] | None = None) -> dict[str, float]:
        """Units per table and index, largest first."""
        out: Counter = Counter()
        for (phase, target), units in self.units.items():
            if phases is None or phase in phases:
                out[target] += units
        return dict(out.most_common())

    def hottest(self, *, phases: tuple[str, ...] | None = None, top: int = 5) -> list[tuple[str, str, float]]:
        """The partition keys that took the most units: (target, key value, units)."""
        out: Counter = Counter()
        for (phase, target, key), units in self.by_key.items():
            if phases is None or phase in phases:
                out[(target, key)] += units
        return [(target, key, units) for (target, key), units in out.most_common(top)]

    # -- the hook --------------------------------------------------------------------------------------------
    def write(self, phase: str, operation: str, params: dict, parsed: dict, failed: bool) -> None:
        with self._lock:
            if operation == "TransactWriteItems":
                for entry in params.get("TransactItems", []):
                    (kind, body), *_ = entry.items()
                    self._one(phase, kind, body, None, failed, factor=2)
            elif operation == "BatchWriteItem":
                for table, requests in params.get("RequestItems", {}).items():
                    for request in requests:
                        (kind, body), *_ = request.items()
                        body = {"TableName": table, **body}
                        self._one(phase, "Put" if kind == "PutRequest" else "Delete", body, None, failed)
            else:
                kind = {"PutItem": "Put", "UpdateItem": "Update", "DeleteItem": "Delete"}.get(operation)
                if kind:
                    self._one(phase, kind, params, parsed, failed)

    def _one(self, phase: str, kind: str, body: dict, parsed: dict | None, failed: bool, factor: int = 1) -> None:
        name = body.get("TableName", "")
        table = self.tables.get(logical_table(name))
        if table is None or kind == "ConditionCheck":
            return
        key = self._key(table, body["Item"] if kind == "Put" else body["Key"])
        before = self._images.get((name, key))
        target = logical_table(name)
        if failed:
            self._add(phase, target, key[0], 1 * factor)
            return
        if kind == "Put":
            after = body["Item"]
        elif kind == "Delete":
            after = None
        else:
            answered = (parsed or {}).get("Attributes")
            after = answered if answered and body.get("ReturnValues") == "ALL_NEW" else _apply(before, body)
        size = max(item_size(before or {}), item_size(after or {}))
        self._add(phase, target, key[0], max(1, math.ceil(size / KB)) * factor)
        for index in table.indexes:
            self._index(phase, f"{target}/{index.name}", index, before, after)
        if after is None:
            self._images.pop((name, key), None)
        else:
            self._images[(name, key)] = after

    def _index(self, phase: str, target: str, index: Index, before: dict | None, after: dict | None) -> None:
        def entry(item: dict | None):
            if item is None or index.hash_key not in item or (index.range_key and index.range_key not in item):
                return None
            return (_value(item[index.hash_key]), _value(item.get(index.range_key)) if index.range_key else None)

        old, new = entry(before), entry(after)
        if old is None and new is None:
            return
        if old is None or new is None:
            self._add(phase, target, str((old or new)[0]), 1)
        elif old != new:
            self._add(phase, target, str(old[0]), 1)
            self._add(phase, target, str(new[0]), 1)
        elif _projected_changed(index, before, after):
            self._add(phase, target, str(new[0]), 1)

    def _add(self, phase: str, target: str, key: str, units: float) -> None:
        self.units[(phase, target)] += units
        self.by_key[(phase, target, key)] += units

    @staticmethod
    def _key(table: Table, item: dict) -> tuple:
        range_value = str(_value(item.get(table.range_key))) if table.range_key else ""
        return (str(_value(item.get(table.hash_key))), range_value)


def _projected_changed(index: Index, before: dict, after: dict) -> bool:
    names = set(before) | set(after) if index.projected is None else index.projected
    return any(before.get(n) != after.get(n) for n in names)


_CLAUSE = re.compile(r"\b(SET|REMOVE|ADD|DELETE)\b")


def _apply(before: dict | None, body: dict) -> dict:
    """The item after ``body``'s UpdateExpression, for the plain forms PynamoDB writes (SET a = :v, SET a = a + :v,
    REMOVE a, ADD a :v, DELETE a :v on top-level attributes); anything else leaves the attribute as it was."""
    item = copy.deepcopy(before) if before else dict(body.get("Key", {}))
    names = body.get("ExpressionAttributeNames", {})
    values = body.get("ExpressionAttributeValues", {})
    expression = body.get("UpdateExpression", "")
    parts = _CLAUSE.split(expression)
    for verb, clause in zip(parts[1::2], parts[2::2], strict=True):
        for action in (a.strip() for a in clause.split(",") if a.strip()):
            if verb == "SET" and "=" in action:
                left, right = (s.strip() for s in action.split("=", 1))
                name = names.get(left, left)
                if right in values:
                    item[name] = values[right]
                elif "+" in right:
                    base, plus = (s.strip() for s in right.split("+", 1))
                    current = float(_value(item.get(names.get(base, base))) or 0)
                    item[name] = {"N": _number(current + float(_value(values.get(plus)) or 0))}
            elif verb == "REMOVE":
                item.pop(names.get(action, action), None)
            elif verb in ("ADD", "DELETE"):
                left, right = action.split(None, 1)
                name, value = names.get(left, left), values.get(right.strip(), {})
                _add_or_delete(item, name, value, verb)
    return item


def _add_or_delete(item: dict, name: str, value: dict, verb: str) -> None:
    if "N" in value:
        current = float(_value(item.get(name)) or 0)
        delta = float(value["N"])
        item[name] = {"N": _number(current + (delta if verb == "ADD" else -delta))}
        return
    (tag, members), *_ = value.items()
    current = set(item.get(name, {}).get(tag, []))
    updated = current | set(members) if verb == "ADD" else current - set(members)
    if updated:
        item[name] = {tag: sorted(updated)}
    else:
        item.pop(name, None)


def _number(value: float) -> str:
    return str(int(value)) if value == int(value) else str(value)
