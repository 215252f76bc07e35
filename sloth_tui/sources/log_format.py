"""`serve --log-format json`: one JSON object per log record, one record per line.

Log shippers (journald's JSON mode, Vector, Fluent Bit, Loki's promtail) split on line
ends, so a record must never span two lines whatever its message holds: a path with a
newline, a hook's error text, an event type an attacker chose. `json.dumps` escapes the
C0 controls, and `ensure_ascii` escapes everything else a splitter might take for a line
end (U+0085, U+2028, U+2029) along with bidi controls and lone surrogates, so each line
is plain ASCII that any JSON reader turns back into the exact text.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from sloth_tui.log_lines import PlainFormatter


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message"}`, plus `"exception"` (the traceback text)
    when the record carries one and `"stack"` when it asked for one."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": iso_utc(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            # Cached on the record, as logging.Formatter.format does.
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=True, default=str)


def iso_utc(created: float) -> str:
    """ISO 8601 in UTC with milliseconds and a `Z`: 2026-12-02T08:31:31.123Z."""
    stamp = datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")
    return stamp.removesuffix("+00:00") + "Z"


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def make_formatter(fmt: str) -> logging.Formatter:
    """The formatter for `--log-format`: "json" or "text" (plain lines)."""
    if fmt == "json":
        return JsonFormatter()
    if fmt == "text":
        return PlainFormatter(TEXT_FORMAT)
    raise ValueError(f"unknown log format {fmt!r} (text or json)")
