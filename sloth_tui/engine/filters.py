"""The filter language shared by the dashboard (`/`), `event list` and `event tail`.

    free text            matches type or data
    type:deploy.*        type glob          cat:security    category
    src:watcher          source (`watcher` also matches `watcher:NAME`)
    status:failed        event status       hook:NAME       events that ran hook NAME
    field=value          a data field (dotted path), value parsed as JSON when it parses
    !term                negates any term

One Filter both matches an Event in memory (live rows) and renders to SQL
(history), so the two views can never disagree.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Collection
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from sloth_tui.engine.errors import SlothError
from sloth_tui.engine.records import EVENT_STATUSES, Event


class FilterError(SlothError):
    pass


KEYS = {"type": "type", "cat": "category", "category": "category", "src": "source"}
KEYS |= {"source": "source", "status": "status", "hook": "hook", "id": "id"}


@dataclass(frozen=True, slots=True)
class Term:
    kind: str  # type | category | source | status | hook | id | field | text
    value: Any
    negate: bool = False
    path: tuple[str, ...] = ()  # for field terms

    def matches(self, event: Event, hooks: Collection[str] = ()) -> bool:
        return self._test(event, hooks) != self.negate

    def _test(self, event: Event, hooks: Collection[str]) -> bool:
        kind, value = self.kind, self.value
        if kind == "type":
            return fnmatchcase(event.type, value)
        if kind == "category":
            return event.category == value
        if kind == "source":
            return event.source == value or event.source.startswith(value + ":")
        if kind == "status":
            return event.status == value
        if kind == "id":
            return event.id == value
        if kind == "hook":
            return value in hooks
        if kind == "field":
            current: Any = event.data
            for part in self.path:
                if not isinstance(current, dict) or part not in current:
                    return False
                current = current[part]
            if isinstance(value, bool) or isinstance(current, bool):
                return current is value
            return current == value
        needle = value.lower()
        return needle in event.type or needle in json.dumps(event.data).lower()

    def to_sql(self) -> tuple[str, list[Any]]:
        kind, value = self.kind, self.value
        if kind == "type":
            sql, params = "type GLOB ?", [value]
        elif kind in ("category", "status", "id"):
            sql, params = f"{kind} = ?", [value]
        elif kind == "source":
            sql, params = "(source = ? OR source GLOB ?)", [value, value + ":*"]
        elif kind == "hook":
            sql = "id IN (SELECT event_id FROM executions WHERE hook = ? AND dry_run = 0)"
            params = [value]
        elif kind == "field":
            sql = "json_extract(data, ?) = ?"
            path = "$." + ".".join(json.dumps(p) for p in self.path)
            params = [path, int(value) if isinstance(value, bool) else value]
        else:
            sql = "(type LIKE ? OR data LIKE ?)"
            params = [f"%{value}%", f"%{value}%"]
        return (f"NOT ({sql})" if self.negate else sql), params


@dataclass(frozen=True, slots=True)
class Filter:
    terms: tuple[Term, ...] = field(default_factory=tuple)
    text: str = ""

    def __bool__(self) -> bool:
        return bool(self.terms)

    def matches(self, event: Event, hooks: Collection[str] = ()) -> bool:
        return all(term.matches(event, hooks) for term in self.terms)

    def to_sql(self) -> tuple[str, list[Any]]:
        """A WHERE clause body (`1` when empty) and its parameters."""
        if not self.terms:
            return "1", []
        parts, params = [], []
        for term in self.terms:
            sql, p = term.to_sql()
            parts.append(sql)
            params.extend(p)
        return " AND ".join(parts), params

    def needs_hooks(self) -> bool:
        return any(t.kind == "hook" for t in self.terms)

    def with_terms(self, *terms: Term) -> Filter:
        return Filter(self.terms + terms, self.text)


def _parse_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return raw


def parse_term(token: str) -> Term:
    negate = token.startswith("!")
    body = token[1:] if negate else token
    if not body:
        raise FilterError("'!' must be followed by a term")
    key, sep, value = body.partition(":")
    if sep and key in KEYS:
        if not value:
            raise FilterError(f"{key}: needs a value")
        kind = KEYS[key]
        if kind == "status" and value not in EVENT_STATUSES:
            raise FilterError(f"unknown status {value!r} (one of: {', '.join(EVENT_STATUSES)})")
        if kind == "id":
            if not value.isdigit():
                raise FilterError(f"id: needs a number, not {value!r}")
            return Term("id", int(value), negate)
        return Term(kind, value, negate)
    if sep and key.isidentifier():
        raise FilterError(f"unknown filter key {key!r} (use type, cat, src, status, hook or id)")
    name, eq, raw = body.partition("=")
    if eq:
        path = tuple(name.split("."))
        if not name or not all(p for p in path):
            raise FilterError(f"bad field name in {body!r}")
        return Term("field", _parse_value(raw), negate, path)
    return Term("text", body, negate)


def parse_filter(text: str) -> Filter:
    """Parse the filter language; raise FilterError with a readable message."""
    try:
        tokens = shlex.split(text)
    except ValueError as exc:
        raise FilterError(f"filter: {exc}") from None
    return Filter(tuple(parse_term(t) for t in tokens), text)
