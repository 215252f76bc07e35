"""`hook explain`: why each hook ran on an event, or why not.

Read-only: the event and its recorded runs come from the store, the hooks (as they are
now) from the registry. The checks are the engine's own, in its order: the patterns and
the stack (hooks.Matcher), enabled, the condition (HookPolicy.failing_term); then what
mode, throttle and dedupe decide as a run starts, which the engine records as a
`skipped` run with its reason, so the outcome quotes that record. The throttle and
dedupe state shown beside it is rebuilt from the hook's recorded runs on the events of
the window before: a reading of the store, not of the engine's live counters (those are
in memory, and go with a restart).

A hook changed since the event (its patterns, condition, enabled state) is explained as
it is now, beside the runs recorded then; the verdict says what it has, not what it had.
"""

from __future__ import annotations

import shlex
import time
from fnmatch import fnmatchcase
from typing import TYPE_CHECKING

from sloth_tui.model.explain import HookVerdict, RunSeen, outcome_of
from sloth_tui.model.filters import Filter, Term
from sloth_tui.model.policy import HookPolicy, format_seconds
from sloth_tui.model.records import Event, Execution, Hook

if TYPE_CHECKING:
    from sloth_tui.engine.engine import Engine
    from sloth_tui.engine.hook_admin import HookRegistry
    from sloth_tui.engine.store import Store

MAX_RUNS = 10_000  # recorded runs of one event read (a rerun loop could make many)
MAX_WINDOW_EVENTS = 5_000  # events of a throttle or dedupe window read; past it, "at least"


async def explain_event(
    engine: Engine, registry: HookRegistry, event_id: int, hook: str | None
) -> list[HookVerdict]:
    """One verdict per hook (by name), or for the one named. NotFound (one line) for an
    event or a hook that does not exist."""
    store = engine.store
    event = await store.get_event(event_id)
    hooks = [await registry.get_hook(hook)] if hook is not None else await registry.list_hooks()
    runs: dict[str, list[Execution]] = {}
    recorded = await store.executions(event_id=event_id, include_dry_runs=False, limit=MAX_RUNS)
    for ex in reversed(recorded):  # oldest first
        runs.setdefault(ex.hook, []).append(ex)
    max_depth = engine.settings.max_depth
    return [
        await _verdict(store, h, event, tuple(map(RunSeen.of, runs.get(h.name, []))), max_depth)
        for h in hooks
    ]


async def _verdict(
    store: Store, hook: Hook, event: Event, runs: tuple[RunSeen, ...], max_depth: int
) -> HookVerdict:
    policy = hook.policy
    matched = next((p for p in hook.events if fnmatchcase(event.type, p)), None)
    stack_ok = hook.stack is None or hook.stack == event.stack
    # A recorded run proves it existed: an event's time can come from elsewhere (a
    # mirrored Sloth Runner row, a recovered event, a clock set back) and precede it.
    existed = hook.created <= event.ts or bool(runs)
    failing = policy.failing_term(event)
    failing_text = None if failing is None else _term_text(policy.when, failing, policy)
    would_run = (
        matched is not None and stack_ok and hook.enabled and existed and failing_text is None
    )
    limit = ""
    if policy.throttle is not None or policy.dedupe is not None:
        if would_run:
            # At the moment the engine decided: the first run's start, else the event's time.
            moment = runs[0].started if runs else event.ts
            limit = await _limit_state(store, hook, event, moment)
        else:  # never reached: the settings alone
            limit = "; ".join(p for p in policy.describe() if p.startswith(("throttle", "dedupe")))
    if runs:
        outcome = outcome_of(runs)
    else:
        outcome = "not run: " + _why_not(hook, event, matched, stack_ok, existed, failing_text)
    return HookVerdict(
        hook=hook.name,
        would_run=would_run,
        outcome=outcome,
        event_id=event.id,
        event_type=event.type,
        patterns=tuple(hook.events),
        matched=matched,
        stack=hook.stack,
        event_stack=event.stack,
        enabled=hook.enabled,
        disabled_reason=hook.disabled_reason,
        existed=existed,
        when=policy.when,
        failing_term=failing_text,
        mode=policy.mode,
        key=policy.key,
        key_value=policy.key_value(event),
        limit=limit,
        policy=tuple(policy.describe()),
        depth=event.depth,
        max_depth=max_depth,
        runs=runs,
    )


def _why_not(
    hook: Hook,
    event: Event,
    matched: str | None,
    stack_ok: bool,
    existed: bool,
    failing: str | None,
) -> str:
    """The first check that stops the hook, as the engine makes them; or, when none
    does, why there is still no record."""
    if matched is None:
        return f"no pattern of the hook matches {event.type}"
    if not stack_ok:
        return f"the hook runs only on stack {hook.stack}"
    if not hook.enabled:
        return f"disabled ({hook.disabled_reason})" if hook.disabled_reason else "disabled"
    if not existed:
        return "the hook was added after the event came"
    if failing is not None:
        return f"the condition fails at {failing}"
    if event.status in ("pending", "processing"):
        return f"not yet: the event is {event.status} (queued or running)"
    return "no run recorded (the hook was changed since, or its run was never stored)"


def _term_text(when: str, term: Term, policy: HookPolicy) -> str:
    """The failing term as the operator wrote it: the condition's tokens are its terms,
    one for one (model/filters.parse_filter)."""
    try:
        tokens = [t for t in shlex.split(when) if t]
    except ValueError:  # cannot happen for a condition that parsed; say the term's kind
        tokens = []
    terms = policy.condition.terms if policy.condition is not None else ()
    for index, candidate in enumerate(terms):
        if candidate is term and index < len(tokens):
            return tokens[index]
    return f"a {term.kind} term"


async def _limit_state(store: Store, hook: Hook, event: Event, moment: float) -> str:
    """Throttle and dedupe state before `moment`, per the hook's key value: how many
    real runs of this hook, on other events of the same key value stored in the window,
    and the latest of them."""
    policy = hook.policy
    key_value = policy.key_value(event)
    windows = [w for w in (policy.throttle and policy.throttle.window, policy.dedupe) if w]
    window = max(windows)
    events = await store.query_events(
        Filter((Term("hook", hook.name),)),
        since=moment - window,
        until=moment,
        limit=MAX_WINDOW_EVENTS,
    )
    events = [e for e in events if e.id != event.id and policy.key_value(e) == key_value]
    outcomes = await store.hook_outcomes([e.id for e in events])
    # (event, real runs of this hook on it), newest event first
    ran = [
        (e, sum(1 for name, status in outcomes[e.id] if name == hook.name and status != "skipped"))
        for e in events
    ]
    ran = [(e, n) for e, n in ran if n]
    more = "at least " if len(events) >= MAX_WINDOW_EVENTS else ""
    per = f" for {policy.key}={key_value}" if policy.key else ""
    lines = []
    if policy.throttle is not None:
        t = policy.throttle
        count = sum(n for e, n in ran if e.ts >= moment - t.window)
        full = ": at the limit" if count >= t.count else ""
        lines.append(
            f"throttle {t.count}/{format_seconds(t.window)}: {more}{count} "
            f"run{'s' if count != 1 else ''} in the {format_seconds(t.window)} before{per}{full}"
        )
    if policy.dedupe is not None:
        window = policy.dedupe
        last = next((e for e, _n in ran if e.ts >= moment - window), None)
        if last is None:
            lines.append(f"dedupe {format_seconds(window)}: no run in the window before{per}")
        else:
            at = time.strftime("%H:%M:%S", time.localtime(last.ts))
            lines.append(
                f"dedupe {format_seconds(window)}: ran{per} at {at} (event {last.id}), "
                "within the window"
            )
    return "; ".join(lines)
