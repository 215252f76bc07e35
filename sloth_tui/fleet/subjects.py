"""Names on NATS: subjects, streams, buckets, consumers and keys, in one place.

Event types are `category.action` or `custom` (catalog.check_type_name), so each maps to
exactly one subject `<prefix>.events.<category>.<action>` (`custom` -> `custom._`), and a
hook glob whose two parts are each literal or `*` maps to a subject filter directly
(`deploy.*` -> `sloth.events.deploy.*`, `*.failed` -> `sloth.events.*.failed`). Any other
glob (`dep?oy.*`, `[ab]*.x`) is filtered on `<prefix>.events.>` and matched by the engine's
own matcher, which stays the authority in every case.
"""

from __future__ import annotations

import re

_LITERAL = re.compile(r"[a-z0-9_]+")


def events_stream(prefix: str) -> str:
    return f"{prefix.upper()}_EVENTS"


def runs_stream(prefix: str) -> str:
    return f"{prefix.upper()}_EXECUTIONS"


def all_events(prefix: str) -> str:
    return f"{prefix}.events.>"


def all_runs(prefix: str) -> str:
    return f"{prefix}.executions.>"


def event_subject(prefix: str, event_type: str) -> str:
    if event_type == "custom":
        return f"{prefix}.events.custom._"
    return f"{prefix}.events.{event_type}"


def type_of_subject(prefix: str, subject: str) -> str | None:
    """The event type a subject stands for; None when it is not an event subject."""
    head = f"{prefix}.events."
    if not subject.startswith(head):
        return None
    rest = subject[len(head) :]
    if rest == "custom._":
        return "custom"
    parts = rest.split(".")
    if len(parts) != 2 or not all(_LITERAL.fullmatch(p) for p in parts):
        return None
    return rest


def pattern_filter(prefix: str, pattern: str) -> str:
    """The narrowest subject filter that holds every type the glob matches."""
    if pattern == "custom":
        return f"{prefix}.events.custom._"
    parts = pattern.split(".")
    if len(parts) == 2 and all(p == "*" or _LITERAL.fullmatch(p) for p in parts):
        return f"{prefix}.events.{pattern}"
    return all_events(prefix)


def hook_filter(prefix: str, patterns: list[str]) -> str:
    """One filter subject for a hook's consumer (nats-server 2.9 takes one per consumer):
    its pattern's own when it has one that maps, else every event."""
    filters = {pattern_filter(prefix, p) for p in patterns}
    if len(filters) == 1:
        return filters.pop()
    return all_events(prefix)


def run_subject(prefix: str, hook: str) -> str:
    return f"{prefix}.executions.{token(hook)}"


def token(name: str) -> str:
    """A hook or engine name as one subject token, consumer name part or KV key part.
    Names hold letters, digits, `_`, `-` and `.`; `_` and `.` are spelled out, so two
    names never share a token."""
    return name.replace("_", "_u").replace(".", "_d")


def untoken(text: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "_" and i + 1 < len(text):
            out.append({"u": "_", "d": "."}.get(text[i + 1], "_" + text[i + 1]))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def hook_consumer(hook: str) -> str:
    """The durable consumer every engine shares for one hook."""
    return f"hook_{token(hook)}"


def intake_consumer(engine: str) -> str:
    """One engine's own durable consumer of every event (its store takes the fleet in)."""
    return f"intake_{token(engine)}"


def runs_intake_consumer(engine: str) -> str:
    return f"runs_{token(engine)}"


def fleet_id(origin: str, local_id: int) -> str:
    """An event's or a run's id across the fleet: its engine and its id there."""
    return f"{origin}:{local_id}"


def parse_fleet_id(text: str) -> tuple[str, int] | None:
    origin, sep, local = text.rpartition(":")
    if not sep or not origin or not local.isdigit():
        return None
    return origin, int(local)


def bucket(prefix: str, what: str) -> str:
    """KV buckets: hooks, state, members, done (finished runs), claims (once-only work)."""
    return f"{prefix}_{what}"


def done_key(hook: str, event_fleet_id: str) -> str:
    """The done-marker of one hook's run on one fleet event (bucket `done`)."""
    origin, _, local = event_fleet_id.rpartition(":")
    return f"{token(hook)}.{token(origin)}.{local}"
