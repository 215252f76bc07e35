"""`event tail` prints every event once, also a hook's child stored after higher ids.

A child gets its id when the hook calls event.dispatch and is stored when the run
commits, so events with higher ids can be stored (and printed) before it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from sloth_tui.commands.tail import RESUME_SLACK, _backfill, _Printer
from sloth_tui.engine.engine import Engine
from sloth_tui.model.filters import parse_filter


def _printed(capsys: pytest.CaptureFixture[str]) -> list[str]:
    return [json.loads(line)["data"]["n"] for line in capsys.readouterr().out.splitlines()]


async def test_a_late_lower_id_is_printed_once(
    engine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    assert isinstance(engine, Engine)
    for n in ("old-1", "old-2"):
        await engine.dispatch("custom", {"n": n})
    printer = _Printer(parse_filter(""), ("event",), None)
    await _backfill(engine, printer, 0)  # tail starts: history is not printed
    late = await engine.dispatch("custom", {"n": "late"})
    newer = await engine.dispatch("custom", {"n": "newer"})
    assert late.id < newer.id
    printer.emit("event", newer)  # the live stream announced the higher id first
    await _backfill(engine, printer, None)  # a reconnect or a poll reads what it missed
    await _backfill(engine, printer, None)  # and reading again prints nothing twice
    printer.emit("event", late)
    assert _printed(capsys) == ["newer", "late"]


async def test_history_below_the_start_stays_unprinted(
    engine: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    for n in range(3):
        await engine.dispatch("custom", {"n": f"h{n}"})
    printer = _Printer(parse_filter(""), ("event",), None)
    await _backfill(engine, printer, 1)  # --last 1
    fresh = await engine.dispatch("custom", {"n": "fresh"})
    printer.emit("event", fresh)
    await _backfill(engine, printer, None)
    assert _printed(capsys) == ["h2", "fresh"]
    assert printer.resume_after == max(printer.floor, fresh.id - RESUME_SLACK)
