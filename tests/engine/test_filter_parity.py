"""The live matcher and the SQL agree: Filter.matches selects exactly what the store does.

Hypothesis builds events (hostile text, nested data, every source kind, both ways the
store has written data JSON) and filters made mostly from those events' own values, stores
the events in a real Store and compares `Filter.matches` with query_events/count_events.
SLOTH_PARITY_EXAMPLES raises the number of examples (default 60).
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import shlex
from pathlib import Path
from typing import Any

from hostile import hostile_data, hostile_text
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from sloth_tui.engine.events import encode_data
from sloth_tui.engine.filter_sql import filter_sql
from sloth_tui.engine.store import INSERT_EVENT, Store, event_row
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.filters import Filter, Term, data_text, parse_filter
from sloth_tui.model.records import EVENT_STATUSES, Event

EXAMPLES = int(os.environ.get("SLOTH_PARITY_EXAMPLES", "60"))
INSERT_RUN = (
    "INSERT INTO executions (hook, event_id, status, started, duration_ms, logs, calls, "
    "dry_run) VALUES (?, ?, 'success', 0, 0, '[]', '[]', ?)"
)


def _storable(text: str) -> str:
    """SQLite stores UTF-8 only: lone surrogates become '?' where a column holds the text."""
    return text.encode("utf-8", "replace").decode("utf-8")


names = st.one_of(
    st.sampled_from(["etc", "deploy-alert", "page", "a:b", "x*", "[ci]", "", "Café"]),
    hostile_text(12).map(_storable),
)
sources = st.one_of(
    st.sampled_from(["cli", "socket", "dashboard", "system", "demo"]),
    st.tuples(st.sampled_from(["socket", "hook", "watcher"]), names).map(":".join),
)
types = st.one_of(
    st.sampled_from(["deploy.failed", "deploy.started", "task.failed", "security.breach"]),
    st.just("custom"),
    st.from_regex(r"[a-z0-9_]{1,5}\.[a-z0-9_]{1,5}", fullmatch=True),
)
small_text = st.sampled_from(
    ["api", "API", "café", "CAFÉ", "ſ", "\u212a", "ﬁ", "1", "", "a.b", '"q"', "a\x00b", "\\u0"]
)
# Mostly text SQLite can hold, so that rows are written both ways (a lone surrogate forces
# the ASCII writer); sometimes the raw thing.
texts = st.one_of(
    hostile_text(20).map(_storable), hostile_text(20).map(_storable), hostile_text(20)
)
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-5, 5),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([0.0, -0.0, 1.0, 3.0, 2.5, 1e16, 1e-05, 2**53 + 1.0]),
    small_text,
    texts,
)
keys = st.one_of(
    st.sampled_from(["a", "b", "n", "café", 'q"k', "a.b", "", "0", "x y", "\\"]),
    hostile_text(8).map(_storable),
    hostile_text(8),
)
json_values = st.recursive(
    leaves,
    lambda kids: st.one_of(st.lists(kids, max_size=3), st.dictionaries(keys, kids, max_size=3)),
    max_leaves=10,
)
own_datas = st.dictionaries(keys, json_values, max_size=4)
datas = st.one_of(hostile_data(), own_datas, own_datas)
hook_names = st.one_of(st.sampled_from(["alert", "page", "deploy-alert"]), names)
TERM_KINDS = ["type", "category", "source", "status", "id", "hook", "field", "text"]
TERM_KINDS += ["stack", "agent", "run_id"]
# Sloth Runner's context: absent often, else a plain name or hostile text.
contexts = st.one_of(st.none(), st.none(), names.filter(bool))
TERM_KINDS += ["since", "until"]
# The fleet engine an event came from (None: this engine's own), and `origin:@local`.
TERM_KINDS += ["origin"]
origins = st.one_of(
    st.none(), st.none(), st.sampled_from(["web-1", "web-2", "db_1", "@local"]), names
)
T0 = 1_796_040_000.0  # 2026-11-30T12:00:00Z
# Event times: a few shared (ties at a bound), near neighbours, any time a REAL holds.
times = st.one_of(
    st.sampled_from([T0, T0 + 0.5, T0 - 600, 0.0, math.nextafter(T0, math.inf)]),
    st.floats(0, 4e9),
    st.floats(allow_nan=False, allow_infinity=False),
)


@st.composite
def events(draw: st.DrawFn) -> tuple[list[Event], dict[int, list[tuple[str, bool]]], list[bool]]:
    ids = draw(
        st.lists(
            st.one_of(st.integers(1, 50), st.integers(1, 2**63 - 1)),
            min_size=1,
            max_size=10,
            unique=True,
        )
    )
    evs, runs, ascii_json = [], {}, []
    for i in ids:
        type_ = draw(types)
        data = draw(datas)
        if draw(st.integers(0, 9)) == 0:  # not JSON, but the ASCII writer stores it
            data[draw(keys)] = draw(st.sampled_from([math.nan, math.inf, -math.inf]))
        evs.append(
            Event(
                i,
                type_,
                type_.partition(".")[0] if "." in type_ else "custom",
                data,
                draw(sources),
                status=draw(st.sampled_from(EVENT_STATUSES)),
                ts=draw(times),
                stack=draw(contexts),
                agent=draw(contexts),
                run_id=draw(contexts),
                origin=draw(origins),
            )
        )
        runs[i] = draw(st.lists(st.tuples(hook_names, st.booleans()), max_size=3))
        ascii_json.append(draw(st.booleans()))
    return evs, runs, ascii_json


def _glob_from(draw: st.DrawFn, text: str) -> str:
    """A glob that often matches `text`: characters kept or swapped for wildcards/classes."""
    out = []
    for char in text[: draw(st.integers(0, len(text)))] if draw(st.booleans()) else text:
        kind = draw(st.integers(0, 12))
        if kind == 0:
            out.append("?")
        elif kind == 1:
            out.append("*")
        elif kind == 2:
            out.append(f"[{char}]")
        elif kind == 3:
            out.append(f"[!{draw(st.sampled_from(['d', 'x', char]))}]")
        elif kind == 4:
            out.append(f"[{min(char, 'a')}-{max(char, 'm')}]")
        elif kind == 5:
            out.append(draw(st.sampled_from(["[", "]", "[!]", "[]]", "[^a]", "[z-a]", "\\"])))
        else:
            out.append(char)
    if len(out) < len(text) or draw(st.booleans()):
        out.append("*")
    return "".join(out)


def _paths(value: Any, prefix: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    found = []
    if isinstance(value, dict):
        for key, item in value.items():
            found.append(((*prefix, key), item))
            found.extend(_paths(item, (*prefix, key)))
    return found


def _variant(draw: st.DrawFn, value: Any) -> Any:
    """The value itself, an equal one of another JSON type, or a near miss."""
    options: list[Any] = [value, value]
    if isinstance(value, bool):
        options += [int(value), str(value).lower()]
    elif isinstance(value, int):
        options += [value + 1, str(value), value == 1]
        if abs(value) < 2**53:
            options.append(float(value))
    elif isinstance(value, float) and math.isfinite(value):
        options += [-value, repr(value)]
        if value.is_integer():
            options.append(int(value))
    elif isinstance(value, str):
        options += [value.upper(), value + "x", value.partition("\x00")[0], value[:-1], [value]]
    elif isinstance(value, list):
        options += [[*value, 1], list(reversed(value))]
    elif isinstance(value, dict):
        options += [dict(reversed(list(value.items()))), {**value, "z": 1}]
    return draw(st.sampled_from(options))


@st.composite
def terms(draw: st.DrawFn, evs: list[Event], hooks: list[str]) -> Term:
    ev = draw(st.sampled_from(evs))
    kind = draw(st.sampled_from(TERM_KINDS))
    negate = draw(st.integers(0, 3)) == 0
    if kind == "type":
        value: Any = _glob_from(draw, ev.type)
        value = draw(st.one_of(st.just(value), hostile_text(10), st.just(ev.type)))
    elif kind == "source":
        base = draw(st.sampled_from([ev.source, ev.source.partition(":")[0], "hook", "watcher"]))
        value = draw(st.sampled_from([base, base, base + ":*", ev.source.rpartition(":")[0]]))
        value = draw(st.one_of(st.just(value), hostile_text(10)))
        if draw(st.integers(0, 2)) == 0:
            value = _glob_from(draw, value)
    elif kind in ("stack", "agent", "run_id"):
        own = getattr(ev, kind) or "prod"
        value = draw(st.one_of(st.just(own), st.just("*"), hostile_text(8)))
        if draw(st.integers(0, 2)) == 0:
            value = _glob_from(draw, value)
    elif kind == "origin":
        own = ev.origin or "web-1"
        value = draw(st.one_of(st.just(own), st.sampled_from(["@local", "*", "web-?"])))
        value = draw(st.one_of(st.just(value), hostile_text(8)))
        if draw(st.integers(0, 2)) == 0:
            value = _glob_from(draw, value)
    elif kind == "category":
        value = draw(st.one_of(st.just(ev.category), hostile_text(8)))
    elif kind == "status":
        value = draw(st.one_of(st.sampled_from(EVENT_STATUSES), hostile_text(8)))
    elif kind == "id":
        value = draw(st.one_of(st.just(ev.id), st.integers(0, 2**64), st.integers(-(2**64), 0)))
    elif kind == "hook":
        value = draw(st.one_of(st.sampled_from(hooks or ["alert"]), hostile_text(8)))
    elif kind in ("since", "until"):  # the event's own time, just either side, or any
        value = draw(
            st.one_of(
                st.sampled_from([ev.ts, math.nextafter(ev.ts, math.inf)]),
                st.just(math.nextafter(ev.ts, -math.inf)),
                times,
                st.sampled_from([math.nan, math.inf, -math.inf]),  # only the wire sends these
            )
        )
    elif kind == "field":
        found = _paths(ev.data)
        from_event = draw(st.integers(0, 4)) > 0
        if found and from_event:
            path, value = draw(st.sampled_from(found))
            value = _variant(draw, value)
        else:
            path = tuple(draw(st.lists(keys, min_size=0, max_size=3)))
            value = draw(json_values)
        return Term("field", value, negate, path)
    else:
        text = draw(st.sampled_from([ev.type, data_text(ev.data), data_text(ev.data)]))
        start = draw(st.integers(0, len(text)))
        value = text[start : start + draw(st.integers(0, 6))]
        value = draw(
            st.sampled_from([value, value.upper(), value.casefold(), value.lower()]) | small_text
        )
    return Term(kind, value, negate)


def _token(term: Term) -> str | None:
    """The term in the filter language, when it can be written there."""
    prefix = "!" if term.negate else ""
    if term.kind in ("since", "until"):
        return None  # times as text: test_time_terms_parse_to_the_same_bounds
    key = {"type": "type", "category": "cat", "source": "src", "status": "status"}
    key |= {"hook": "hook", "id": "id", "stack": "stack", "agent": "agent", "run_id": "run"}
    key |= {"origin": "origin"}
    if term.kind in key:
        if term.value == "" or (term.kind == "status" and term.value not in EVENT_STATUSES):
            return None
        if term.kind == "id" and not 0 <= term.value < 2**63:
            return None
        return f"{prefix}{key[term.kind]}:{term.value}"
    if term.kind == "field":
        name = ".".join(term.path)
        if not name or not all(term.path) or any("." in p for p in term.path) or "=" in name:
            return None
        if ":" in name or name.startswith("!") or not math.isfinite(_largest(term.value)):
            return None
        return f"{prefix}{name}={json.dumps(term.value, ensure_ascii=False)}"
    text = term.value
    if not text or "=" in text or ":" in text or text.startswith("!"):
        return None
    return prefix + text


def _largest(value: Any) -> float:
    """The largest magnitude among the value's floats (0 when none)."""
    if isinstance(value, float):
        return abs(value)
    if isinstance(value, list):
        return max([_largest(v) for v in value], default=0.0)
    if isinstance(value, dict):
        return max([_largest(v) for v in value.values()], default=0.0)
    return 0.0


def _row(event: Event, ascii_json: bool) -> tuple[Any, ...]:
    if not ascii_json:
        try:
            encoded = encode_data(event.data)
            encoded.encode()
        except (EventRefused, UnicodeEncodeError):
            pass  # NaN or a lone surrogate: only the ASCII writer stores it
        else:
            return event_row(event, encoded)
    return event_row(event)


async def _check(
    store: Store,
    evs: list[Event],
    runs: dict[int, list[tuple[str, bool]]],
    ascii_json: list[bool],
    filters: list[Filter],
) -> None:
    await store.write(("DELETE FROM events", ()), ("DELETE FROM executions", ()))
    ops = [(INSERT_EVENT, _row(e, a)) for e, a in zip(evs, ascii_json, strict=True)]
    ops += [
        (INSERT_RUN, (_storable(hook), i, int(dry)))
        for i, hooks in runs.items()
        for hook, dry in hooks
    ]
    await store.write(*ops)
    real = {i: {_storable(h) for h, dry in hooks if not dry} for i, hooks in runs.items()}
    stored = {e.id: e for e in await store.query_events(limit=len(evs))}
    for flt in filters:
        live = {e.id for e in evs if flt.matches(e, real[e.id])}
        decoded = {i for i, e in stored.items() if flt.matches(e, real[i])}
        found = {e.id for e in await store.query_events(flt, limit=len(evs) + 1)}
        count = await store.count_events(flt)
        assert found == live == decoded, (flt, filter_sql(flt))
        assert count == len(live), (flt, filter_sql(flt))
    # since:/until: terms and query_events(since=, until=) (the socket's op) agree.
    for bound in sorted({e.ts for e in evs})[:3]:
        for kind in ("since", "until"):
            by_term = await store.query_events(Filter((Term(kind, bound),)), limit=len(evs))
            by_kwarg = await store.query_events(limit=len(evs), **{kind: bound})
            assert by_term == by_kwarg, (kind, bound)


def test_live_and_sql_select_the_same_events(tmp_path: Path) -> None:
    # One store and one event loop for all examples: shrinking a failure stays quick.
    with asyncio.Runner() as runner:
        store = runner.run(Store.open(tmp_path / "sloth.db"))
        try:
            _examples(runner, store)
        finally:
            runner.run(store.close())


def _examples(runner: asyncio.Runner, store: Store) -> None:
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink],  # no slow explain
    )
    @given(st.data(), events())
    def check(
        data: st.DataObject,
        generated: tuple[list[Event], dict[int, list[tuple[str, bool]]], list[bool]],
    ) -> None:
        evs, runs, ascii_json = generated
        hooks = sorted({h for r in runs.values() for h, _dry in r})
        filters = []
        for _ in range(data.draw(st.integers(4, 10))):
            chosen = tuple(data.draw(st.lists(terms(evs, hooks), min_size=1, max_size=3)))
            filters.append(Filter(chosen))
            tokens = [_token(t) for t in chosen]
            if all(tok is not None for tok in tokens):  # the same filter, written as text
                text = " ".join(shlex.quote(tok) for tok in tokens if tok is not None)
                assert parse_filter(text).terms == chosen, text
        runner.run(_check(store, evs, runs, ascii_json, filters))

    check()


# -- the same check over a fixed matrix of the awkward cases, every one every run --------

FOLDING_INTO_ASCII = "ẚﬀﬁﬂﬃﬄẖİǰ\u212aŉßſẞﬅﬆẗẘẙ"  # casefold() of each holds ASCII letters
MATRIX_VALUES: list[Any] = [
    None, True, False, 0, -0.0, 1, 1.0, -5, 2.5, 1e16, 10**16, 2**63, 2**70, "", "api",
    "API", "café", "CAFÉ", "a\x00b", "a", "\x7f", "\\u0", '"q"', "🦥", "ſ", [1], [True],
    [1.0], [], {}, {"a": 1}, math.nan,
]  # fmt: skip
MATRIX_KEYS = ["a", "café", 'q"k', "a.b", "\\", "🦥"]
MATRIX_SOURCES = [
    "socket", "socket:é", "socket:a:b", "socket:\x00x", "socket;", "socketx", "hook:",
    "hook:deploy-alert", "watcher:etc", "cli",
]  # fmt: skip
MATRIX_TYPES = ["deploy.failed", "task.failed", "custom", "d1.x", "security.breach"]


def _matrix_events() -> tuple[list[Event], list[bool]]:
    evs: list[Event] = []
    ascii_json: list[bool] = []

    def add(data: dict[str, Any], i: int) -> None:
        for as_ascii in (False, True):
            evs.append(
                Event(
                    len(evs) + 1,
                    MATRIX_TYPES[i % len(MATRIX_TYPES)],
                    MATRIX_TYPES[i % len(MATRIX_TYPES)].partition(".")[0],
                    data,
                    MATRIX_SOURCES[i % len(MATRIX_SOURCES)],
                    status=EVENT_STATUSES[i % len(EVENT_STATUSES)],
                )
            )
            ascii_json.append(as_ascii)

    for i, (key, value) in enumerate((k, v) for k in MATRIX_KEYS for v in MATRIX_VALUES):
        add({key: value} if i % 2 else {"o": {key: value}, "b": 1}, i)
        if value is None or isinstance(value, bool | str):  # SQLite cannot read NaN
            add({key: value, "n": math.nan} if i % 2 else {"o": {key: value, "n": -math.inf}}, i)
    # The value at the path differs from the filter's, an equal one sits elsewhere.
    add({"a": "a\x00b", "o": {"a": "a"}}, 0)
    add({"a": "🦥", "o": {"a": "🦥x"}}, 1)
    add({"a": 1, "o": {"a": True}}, 2)
    for i, char in enumerate(FOLDING_INTO_ASCII):
        add({"t": f"<{char}>"}, i)
    return evs, ascii_json


def _matrix_filters() -> list[Filter]:
    terms: list[Term] = []
    for i, (key, value) in enumerate((k, v) for k in MATRIX_KEYS for v in MATRIX_VALUES):
        terms.append(Term("field", value, i % 3 == 0, (key,)))
        terms.append(Term("field", value, i % 3 == 1, ("o", key)))
    needles = {"café", "CAFÉ", "Café", "\\u00e9", "u00", "a\\u0000b", "\\\\", '"', "<", "1e+16"}
    for char in FOLDING_INTO_ASCII:
        needles |= {char, char.casefold(), f"<{char.casefold()}>", *char.casefold()}
    terms += [Term("text", n, negate) for n in sorted(needles) for negate in (False, True)]
    for pattern in [
        "socket", "socket:a", "hook", "hook:*", "hook:deploy-*", "h*", "*:*", "socket:\x00*",
        "[!h]*", "s?cket*", "[", "socket:[a-z]*", "socket:[!a]*", "*x", "socket:é", "hook:",
    ]:  # fmt: skip
        terms += [Term("source", pattern), Term("source", pattern, True)]
    for pattern in [
        "deploy.*", "[!d]*", "[d]*", "[a-e]*", "*.fail?d", "[", "[!]*", "[]]*", "[^d]*",
        "[z-a]*", "*[!.]", "\\*", "[d-d]1.[x]", "[!a-c]*", "deploy.*\x00x", "[!z-a]*",
    ]:  # fmt: skip
        terms += [Term("type", pattern), Term("type", pattern, True)]
    return [Filter((t,)) for t in terms]


def test_live_and_sql_agree_on_the_awkward_cases(tmp_path: Path) -> None:
    evs, ascii_json = _matrix_events()
    runs: dict[int, list[tuple[str, bool]]] = {e.id: [] for e in evs}

    async def body() -> None:
        store = await Store.open(tmp_path / "sloth.db")
        try:
            await _check(store, evs, runs, ascii_json, _matrix_filters())
        finally:
            await store.close()

    asyncio.run(body())
