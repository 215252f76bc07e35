"""A serving engine's warnings as `log` notices (engine/log_notices.py), for the
dashboards attached to it; the dashboard's side of a hostile notice."""

from __future__ import annotations

import logging
import threading

from hypothesis import given
from hypothesis import strategies as st
from waiting import eventually

from sloth_tui.config import Settings
from sloth_tui.engine.bus import Notice
from sloth_tui.engine.engine import Engine
from sloth_tui.engine.log_notices import LogNotices
from sloth_tui.tui.live import LOG_CHARS, Batch


def _handlers() -> list[logging.Handler]:
    return [h for h in logging.getLogger("sloth_tui").handlers if isinstance(h, LogNotices)]


async def test_a_record_from_any_thread_is_a_notice_of_one_escaped_line(
    settings: Settings,
) -> None:
    engine = await Engine.open(settings, lifecycle=True)
    try:
        sub = engine.subscribe()
        log = logging.getLogger("sloth_tui.engine.store")
        writer = threading.Thread(
            target=lambda: log.error("WAL checkpoint failed: %s", "disk\nfull \x1b[2J"),
        )
        writer.start()
        writer.join()
        logging.getLogger("sloth_tui.engine").info("not a warning")
        logging.getLogger("textual").warning("not ours")
        got: list[Notice] = []

        def seen() -> bool:
            got.extend(n for n in sub.drain() if n.kind == "log")
            return bool(got)

        await eventually(seen, what="the log notice")
        await engine.store.flush()
        got.extend(n for n in sub.drain() if n.kind == "log")
        assert [n.payload for n in got] == [
            {"level": "error", "message": "WAL checkpoint failed: disk\\nfull \\x1b[2J"}
        ]
    finally:
        await engine.close()
    assert _handlers() == []  # removed with the engine


async def test_a_one_shot_engine_says_nothing_to_anyone(settings: Settings) -> None:
    engine = await Engine.open(settings)
    try:
        assert _handlers() == []
    finally:
        await engine.close()


@given(payload=st.recursive(st.none() | st.text() | st.integers(), st.lists, max_leaves=8))
def test_a_notice_that_is_not_one_is_ignored(payload: object) -> None:
    assert Batch.from_notices([Notice("log", payload)]).logs == []


@given(message=st.text(max_size=5000), level=st.sampled_from(["warning", "error", "x", None]))
def test_a_daemons_message_is_kept_capped_with_its_level(message: str, level: str | None) -> None:
    """Drawn as text by SlothApp.notify (tests/tui/test_log_toasts.py: hostile lines reach
    no terminal), so the batch only caps it."""
    batch = Batch.from_notices([Notice("log", {"level": level, "message": message})])
    assert batch.logs == [(message[:LOG_CHARS], level == "error")]
