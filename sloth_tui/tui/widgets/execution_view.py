"""One hook run, readable: status, time, result, the error and its line, logs by level,
and each host-API call (http requests, dispatched events, state writes).

Shared by the test-fire panel (a dry run: calls read "would …") and the execution
detail screen (a real run, or a dry run from the store).

Everything a hook said (logs, error, result, urls, bodies, state keys) is shown as plain
text: Text objects, never markup, control characters made visible (`printable`).
"""

from __future__ import annotations

import json
from typing import Any

from rich.console import Group, RenderableType
from rich.style import Style
from rich.text import Text
from textual.widgets import Static

from sloth_tui.model.records import Execution
from sloth_tui.tui import format as fmt
from sloth_tui.tui.tones import Tones, on_theme_change, tones_of
from sloth_tui.tui.widgets.table_fit import printable

STATUS_ICONS = {"success": "✓", "skipped": "-", "failed": "✗", "error": "✗", "timeout": "⏱"}
BODY_WIDTH = 200  # characters of a request body or event data shown inline


def clip(text: str, width: int) -> str:
    """One printable line of at most `width` characters, a cut marked with an ellipsis."""
    text = printable(text.replace("\n", " "))
    return text if len(text) <= width else text[: width - 1] + "…"


def _compact(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    return clip(text, BODY_WIDTH)


def _one_line(value: Any) -> str:
    return printable(str(value))


def call_line(call: dict[str, Any], tones: Tones) -> Text:
    """One host-API call as a line: what it did, or (dry run) what it would have done."""
    fn = str(call.get("fn", "?"))
    dry = bool(call.get("dry_run"))
    line = Text("  ")
    if fn.startswith("http."):
        line.append("would " if dry else "", style="italic")
        line.append(f"{_one_line(call.get('method', fn[5:].upper()))} ", style="bold")
        line.append(_one_line(call.get("url", "")), style="underline")
        if not dry:
            status = call.get("status")
            line.append(
                f"  {_one_line(status) if status is not None else '-'}", style=tones.http(status)
            )
            line.append(f"  {fmt.duration_ms(call.get('duration_ms'))}", style="dim")
        if call.get("body") is not None:
            line.append(f"  body {_compact(call['body'])}", style="dim")
    elif fn.startswith("event.dispatch"):
        line.append("would " if dry else "", style="italic")
        line.append("dispatch ", style="bold")
        line.append(_one_line(call.get("type", "")), style=tones.note)
        if call.get("id"):
            line.append(f" → event {_one_line(call['id'])}")
        line.append(f"  {_compact(call.get('data'))}", style="dim")
    elif fn.startswith("state."):
        line.append(f"{_one_line(fn)} ", style="bold")
        line.append(_one_line(call.get("key", "")))
        if "value" in call:
            line.append(f" = {_compact(call['value'])}", style="dim")
    elif fn == "calls.dropped":
        line.append(
            f"… {_one_line(call.get('count', 0))} more calls not recorded", style=tones.warn
        )
    else:
        line.append(f"{_one_line(fn)} {_compact({k: v for k, v in call.items() if k != 'fn'})}")
    if call.get("error"):
        line.append(f"  ✗ {_one_line(call['error'])}", style=tones.bad)
    return line


def execution_report(ex: Execution, tones: Tones, *, event_label: str = "") -> Group:
    parts: list[RenderableType] = []
    head = Text()
    head.append(
        f"{STATUS_ICONS.get(ex.status, '?')} {printable(ex.status)}",
        style=tones.run(ex.status) + Style(bold=True),
    )
    head.append(f"  {fmt.duration_ms(ex.duration_ms)}")
    if ex.dry_run:
        head.append("  dry run", style=tones.note + Style(italic=True))
    if ex.origin:
        head.append(f"  {printable(ex.origin)}'s run", style=tones.note + Style(italic=True))
    head.append(f"  {fmt.full_time(ex.started)}", style="dim")
    parts.append(head)
    meta = Text()
    meta.append("hook ", style="dim")
    meta.append(printable(ex.hook), style="bold")
    if event_label:
        meta.append("  event ", style="dim")
        meta.append(printable(event_label))
    # Why it ran (event, rerun, retry, recovery, test) and, for a retry, which attempt.
    meta.append("  trigger ", style="dim")
    meta.append(printable(ex.trigger))
    if ex.attempt > 1:
        meta.append("  attempt ", style="dim")
        meta.append(str(ex.attempt))
    parts.append(meta)
    result = (
        json.dumps(ex.result, ensure_ascii=False, default=str) if ex.result is not None else "nil"
    )
    parts.append(Text.assemble(("returned ", "dim"), _compact(result)))
    if ex.error and ex.status == "skipped":  # not an error: why it did not run
        parts.append(
            Text.assemble(("why: ", "dim"), (printable(ex.error, lines=True), tones.muted))
        )
    elif ex.error:
        err = Text("✗ ", style=tones.bad + Style(bold=True))
        if ex.error_line:
            err.append(f"line {ex.error_line}: ", style=tones.bad + Style(bold=True))
        err.append(printable(ex.error, lines=True), style=tones.bad)
        if ex.limit:
            err.append(f"  (limit: {printable(ex.limit)})", style=tones.warn)
        parts.append(err)
    parts.append(Text(""))
    parts.append(Text(f"Logs ({len(ex.logs)})", style="bold underline"))
    if not ex.logs:
        parts.append(Text("  none", style="dim"))
    for log in ex.logs:
        line = Text("  ")
        line.append(fmt.clock_time(log.ts), style="dim")
        level = printable(log.level)
        style = tones.level(log.level)
        line.append(f" {level.upper():5} ", style=style if style else Style(bold=True))
        line.append(printable(log.message, lines=True), style=style)
        parts.append(line)
    parts.append(Text(""))
    title = "Calls it would have made" if ex.dry_run else "Calls"
    parts.append(Text(f"{title} ({len(ex.calls)})", style="bold underline"))
    if not ex.calls:
        parts.append(Text("  none", style="dim"))
    parts.extend(call_line(c, tones) for c in ex.calls)
    return Group(*parts)


class ExecutionView(Static):
    """A Static that shows one Execution (or a hint while there is none)."""

    def __init__(self, hint: str = "", *, id: str | None = None) -> None:
        super().__init__(Text(printable(hint, lines=True), style="dim"), id=id)
        self.execution: Execution | None = None
        self._event_label = ""

    def on_mount(self) -> None:
        on_theme_change(self, self._repaint)

    def show(self, ex: Execution, *, event_label: str = "") -> None:
        self.execution, self._event_label = ex, event_label
        self._repaint()

    def _repaint(self) -> None:
        if self.execution is not None:
            report = execution_report(self.execution, tones_of(self), event_label=self._event_label)
            self.update(report)

    def show_text(self, text: str, style: str | Style = "dim") -> None:
        self.execution = None
        self.update(Text(printable(text, lines=True), style=style))
