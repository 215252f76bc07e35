"""An event's tree: event -> hook runs -> the events those runs dispatched -> ... .

engine/trace_sql.py builds a Trace from the store; `event trace` and the dashboard's Trace
view draw it with `tree_lines`, the one place that decides the shape of the drawing
(both pass their own escaper, since outside text is made harmless differently on a
terminal and on a Textual screen). Dry runs are never part of a trace: they dispatch
nothing that is stored.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

MAX_NODES = 2000  # events and runs drawn; the rest are counted ("… N more not shown")
ERROR_CHARS = 200  # of a run's error: the tree is an overview, the run's detail has it all
ASKED_MARK = "◀ asked"

LineKind = Literal["event", "run", "note"]


@dataclass(frozen=True, slots=True)
class TraceRun:
    """One real run of a hook on its event; `children` are the events it dispatched,
    in the order it dispatched them."""

    hook: str
    status: str
    offset: float  # seconds from the root event's ts to the run's start
    duration_ms: float
    trigger: str = "event"
    attempt: int = 1
    id: int | None = None
    error: str | None = None
    origin: str | None = None  # "sloth-runner" for a run mirrored from a master
    children: tuple[TraceEvent, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "run",
            "id": self.id,
            "hook": self.hook,
            "status": self.status,
            "offset": self.offset,
            "duration_ms": self.duration_ms,
            "trigger": self.trigger,
            "attempt": self.attempt,
            "error": self.error,
            "origin": self.origin,
            "children": [c.to_dict() for c in self.children],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TraceRun:
        return cls(
            hook=str(d["hook"]),
            status=str(d["status"]),
            offset=float(d.get("offset") or 0.0),
            duration_ms=float(d.get("duration_ms") or 0.0),
            trigger=str(d.get("trigger") or "event"),
            attempt=int(d.get("attempt") or 1),
            id=None if d.get("id") is None else int(d["id"]),
            error=None if d.get("error") is None else str(d["error"]),
            origin=None if d.get("origin") is None else str(d["origin"]),
            children=tuple(TraceEvent.from_dict(c) for c in d.get("children") or ()),
        )


@dataclass(frozen=True, slots=True)
class TraceEvent:
    """One stored event, its runs, and `children`: its stored child events that no run
    of it claims (the run was trimmed, or the event was dispatched some other way)."""

    id: int
    type: str
    status: str
    source: str
    offset: float  # seconds from the root event's ts
    runs: tuple[TraceRun, ...] = ()
    children: tuple[TraceEvent, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "event",
            "id": self.id,
            "type": self.type,
            "status": self.status,
            "source": self.source,
            "offset": self.offset,
            "runs": [r.to_dict() for r in self.runs],
            "children": [c.to_dict() for c in self.children],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TraceEvent:
        return cls(
            id=int(d["id"]),
            type=str(d["type"]),
            status=str(d["status"]),
            source=str(d.get("source") or ""),
            offset=float(d.get("offset") or 0.0),
            runs=tuple(TraceRun.from_dict(r) for r in d.get("runs") or ()),
            children=tuple(TraceEvent.from_dict(c) for c in d.get("children") or ()),
        )


@dataclass(frozen=True, slots=True)
class Trace:
    """The tree `asked_id` belongs to, from its root.

    `missing_parent` is set when the root is not a true root: its parent (that id) was
    trimmed or deleted, so the root is the oldest ancestor still stored. `omitted`
    counts the events and runs past MAX_NODES; `omitted_more` says the count stopped
    early (there are at least that many)."""

    root_id: int
    asked_id: int
    root: TraceEvent
    root_ts: float = 0.0
    missing_parent: int | None = None
    shown: int = 1
    omitted: int = 0
    omitted_more: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "root_id": self.root_id,
            "asked_id": self.asked_id,
            "root_ts": self.root_ts,
            "missing_parent": self.missing_parent,
            "shown": self.shown,
            "omitted": self.omitted,
            "omitted_more": self.omitted_more,
            "root": self.root.to_dict(),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        missing = d.get("missing_parent")
        return cls(
            root_id=int(d["root_id"]),
            asked_id=int(d["asked_id"]),
            root=TraceEvent.from_dict(d["root"]),
            root_ts=float(d.get("root_ts") or 0.0),
            missing_parent=None if missing is None else int(missing),
            shown=int(d.get("shown") or 1),
            omitted=int(d.get("omitted") or 0),
            omitted_more=bool(d.get("omitted_more")),
        )

    def events(self) -> Iterator[TraceEvent]:
        """Every event of the tree, depth first (iteratively: a chain can be deep)."""
        stack = [self.root]
        while stack:
            ev = stack.pop()
            yield ev
            kids = [c for r in ev.runs for c in r.children] + list(ev.children)
            stack.extend(reversed(kids))


# -- drawing ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceLine:
    """One line of the drawn tree: `prefix` is the tree's own characters (├─ └─ │),
    `label` the node, already passed through the caller's escaper. `event_id` is the
    event the line is (for an event) or belongs to (for a run); None for a note."""

    prefix: str
    label: str
    kind: LineKind
    event_id: int | None = None
    status: str = ""
    asked: bool = False
    run_id: int | None = None  # a run line's execution id


def offset_text(seconds: float) -> str:
    """+0.120s, +3m05.0s: a node's time after the root (a clock step can make it -)."""
    sign = "-" if seconds < 0 else "+"
    s = abs(seconds)
    if s < 60:
        return f"{sign}{s:.3f}s"
    minutes, rest = divmod(s, 60)
    if minutes < 60:
        return f"{sign}{int(minutes)}m{rest:04.1f}s"
    hours, minutes = divmod(int(minutes), 60)
    return f"{sign}{hours}h{minutes:02d}m"


def duration_text(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.1f}ms"
    return f"{ms / 1000:.2f}s"


def event_label(ev: TraceEvent, clean: Callable[[str], str]) -> str:
    return f"event {ev.id} {clean(ev.type)} [{clean(ev.status)}] {offset_text(ev.offset)}"


def run_label(run: TraceRun, clean: Callable[[str], str]) -> str:
    how = clean(run.trigger)
    if run.attempt > 1:
        how += f", attempt {run.attempt}"
    text = (
        f"{clean(run.hook)}: {clean(run.status)} {duration_text(run.duration_ms)} ({how}) "
        f"{offset_text(run.offset)}"
    )
    if run.origin:
        text += f" ({clean(run.origin)}'s run)"
    if run.error:
        text += f" - {clean(clip(run.error, ERROR_CHARS))}"
    return text


def clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def header_lines(trace: Trace) -> list[str]:
    """What the drawing does not show by itself: a cut-off root, the node bound."""
    lines = []
    if trace.missing_parent is not None:
        lines.append(
            f"root: event {trace.root_id}, the oldest ancestor still stored "
            f"(its parent {trace.missing_parent} was trimmed or deleted)"
        )
    return lines


def footer_lines(trace: Trace) -> list[str]:
    if not trace.omitted:
        return []
    more = "at least " if trace.omitted_more else ""
    return [f"… {more}{trace.omitted} more not shown (the trace draws {MAX_NODES} nodes)"]


def tree_lines(trace: Trace, clean: Callable[[str], str]) -> list[TraceLine]:
    """The tree, one line per node, root first; iterative, so a long chain cannot reach
    Python's recursion limit."""
    lines: list[TraceLine] = []
    # (node, prefix of its own line, prefix of its children's lines, its event's id)
    stack: list[tuple[TraceEvent | TraceRun, str, str, int]] = [(trace.root, "", "", trace.root.id)]
    while stack:
        node, own, below, owner = stack.pop()
        kids: list[TraceEvent | TraceRun]
        if isinstance(node, TraceEvent):
            asked = node.id == trace.asked_id
            label = event_label(node, clean)
            lines.append(TraceLine(own, label, "event", node.id, node.status, asked))
            kids = [*node.runs, *node.children]
        else:
            label = run_label(node, clean)
            lines.append(TraceLine(own, label, "run", owner, node.status, run_id=node.id))
            kids = list(node.children)
        for i in reversed(range(len(kids))):
            kid = kids[i]
            last = i == len(kids) - 1
            kid_owner = kid.id if isinstance(kid, TraceEvent) else owner
            branch, rail = ("└─ ", "   ") if last else ("├─ ", "│  ")
            stack.append((kid, below + branch, below + rail, kid_owner))
    return lines
