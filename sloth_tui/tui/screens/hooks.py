"""Screen 2: the hooks, live, with how they fare; the way into the hook workbench.

k9s-style: the table has the focus and single keys act on the row under the cursor
(n new, enter/e edit, space on/off, d delete, t test-fire, x its runs).
A hook with policies (when, mode, retry, ...: model/policy.py) has ⚙ after its name and
the highlighted one's settings show under the table, with the reason when the engine
switched it off (auto-disable: "✗ auto" in the on column).
Descriptions, patterns and file paths are the hook authors': cells and toasts show them
as text (Text, `format.notify`), never markup.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.widgets import DataTable, Static

from sloth_tui.model.errors import SlothError
from sloth_tui.model.records import Hook
from sloth_tui.model.stats import HookStats
from sloth_tui.tui import format as fmt
from sloth_tui.tui.live import Batch
from sloth_tui.tui.nav import NAV_BINDINGS, NavMixin
from sloth_tui.tui.screens.base import LiveScreen
from sloth_tui.tui.screens.confirm import Choice, ConfirmScreen
from sloth_tui.tui.screens.hook_editor import HookEditorScreen
from sloth_tui.tui.screens.new_hook import NewHookScreen
from sloth_tui.tui.tones import Tones, on_theme_change, tones_of
from sloth_tui.tui.widgets.execution_view import clip
from sloth_tui.tui.widgets.key_footer import KeyFooter
from sloth_tui.tui.widgets.sorting import SortedTableMixin, SortState
from sloth_tui.tui.widgets.table_fit import FittedTable, columns_for, printable
from sloth_tui.tui.widgets.top_bar import TopBar

RELOAD_EVERY = 1.0  # seconds (monotonic) between reloads while runs keep coming
COLUMNS = ("name", "on", "events", "runs", "fail", "ok", "avg", "p95", "last run", "description")
# Narrow terminals: below 110 columns these go first (at 100 the description would have
# no room left), below 80 these too (the name, on/off and the failure figures stay).
DROPS = ((110, ("avg", "p95")), (80, ("events", "description")))
DESCRIPTION_WIDTH = 48  # a long description is cut, not a reason to scroll sideways
KEYS_HINT = "n new · ⏎/e edit · space on/off · d delete · t test-fire · x runs"
POLICY_MARK = " ⚙"  # after the name: the hook has a policy (the panel below says which)


def on_cell(hook: Hook, tones: Tones) -> Text:
    """✓ on; ✗ off by hand; ✗ auto when the engine switched it off (auto-disable)."""
    if hook.enabled:
        return Text("✓", style=tones.ok)
    if hook.disabled_reason:
        return Text("✗ auto", style=tones.bad)
    return Text("✗ off", style=tones.warn)


def name_cell(hook: Hook) -> Text:
    cell = fmt.plain(hook.name, style="bold" if hook.enabled else "dim")
    if not hook.policy.is_default:
        cell.append(POLICY_MARK, style="dim")
    return cell


def policy_panel(hook: Hook, tones: Tones) -> Text | None:
    """The highlighted hook's policy and why it is off: None when it has neither."""
    lines = hook.policy.describe()
    if not lines and not hook.disabled_reason:
        return None
    out = Text()
    if hook.disabled_reason:
        out.append(" ✗ switched off: ", style=tones.bad)
        out.append(printable(hook.disabled_reason))  # holds the hook's last error: text
        out.append("   space enables it again", style="dim")
    if lines:
        if out:
            out.append("\n")
        out.append(" ⚙ ", style="dim")
        # Each setting whole on the line; the condition is the author's text.
        out.append(" · ".join(printable(line) for line in lines))
    return out


def rate_text(st: HookStats | None, tones: Tones) -> Text:
    rate = st.success_rate if st else None
    if rate is None:
        return Text("-", style="dim")
    return Text(f"{rate:.0%}", style=tones.rate(rate))


class HooksScreen(SortedTableMixin, NavMixin, LiveScreen):
    CSS_PATH = "../workbench.tcss"
    NAV_TARGET = "#hooks-table"
    BINDINGS = [
        *NAV_BINDINGS,
        Binding("n", "new", "New", id="hooks.new",
                tooltip="new hook (name, patterns with completion, template)"),
        Binding("e", "edit", "Edit", id="hooks.edit", key_display="⏎/e",
                tooltip="edit the hook's Lua file"),
        Binding("space", "toggle_enabled", "On/off", id="hooks.toggle",
                tooltip="enable / disable the hook"),
        Binding("d", "delete", "Delete", id="hooks.delete",
                tooltip="delete the hook (asks; the Lua file is kept)"),
        Binding("t", "test", "Test-fire", id="hooks.test", tooltip="open the editor and test-fire"),
        Binding("x", "runs", "Runs", id="hooks.runs", tooltip="this hook's executions"),
        Binding("S", "sort", "Sort", id="hooks.sort",
                tooltip="sort by the next column (or click a header)"),
    ]  # fmt: skip

    def __init__(self) -> None:
        super().__init__()
        self.hooks: list[Hook] = []  # as shown: sorted
        self._loaded: list[Hook] = []  # as the engine listed them
        self.sort = SortState(COLUMNS)
        self.stats: dict[str, HookStats] = {}
        self._dirty = True
        self._loaded_at = 0.0

    def compose(self) -> ComposeResult:
        yield TopBar(self.MODE)
        yield Static("", id="hooks-title")
        yield FittedTable(id="hooks-table", cursor_type="row", zebra_stripes=True)
        # Under the table, only while the highlighted hook has a policy or was switched off.
        panel = Static("", id="hooks-policy")
        panel.styles.height = "auto"
        panel.styles.max_height = 4
        panel.display = False
        yield panel
        yield KeyFooter()

    @property
    def table(self) -> FittedTable:
        return self.query_one("#hooks-table", FittedTable)

    def on_mount(self) -> None:
        self.table.focus()
        self.load()
        on_theme_change(self, self.draw)

    def ingest(self, batch: Batch) -> None:
        if batch.hooks_changed or batch.executions or batch.reconnected:
            self._dirty = True

    def refresh_view(self) -> None:
        if self._dirty and time.monotonic() - self._loaded_at >= RELOAD_EVERY:
            self.load()

    @work(exclusive=True, group="hooks")
    async def load(self) -> None:
        self._dirty = False
        self._loaded_at = time.monotonic()
        try:
            self._loaded = await self.engine.list_hooks()
            self.stats = await self.engine.hook_stats()
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Could not list hooks", severity="error")
            return
        with contextlib.suppress(NoMatches):  # the answer came as the app was closing
            self.draw()

    def rows(self) -> list[tuple[Text, ...]]:
        now = self.sloth.clock()
        tones = tones_of(self)
        out: list[tuple[Text, ...]] = []
        for h in self.hooks:
            st = self.stats.get(h.name)
            out.append(
                (
                    name_cell(h),
                    on_cell(h, tones),
                    fmt.plain(", ".join(h.events)),  # globs hold brackets: deploy.[fs]*
                    Text(f"{h.run_count:,}"),
                    Text(f"{st.failures:,}", style=tones.bad if st.failures else "")
                    if st
                    else Text("0"),
                    rate_text(st, tones),
                    Text(fmt.duration_ms(st.avg_ms) if st else "-"),
                    Text(fmt.duration_ms(st.p95_ms) if st else "-"),
                    Text(fmt.ago(h.last_run, now)),
                    Text(clip(h.description, DESCRIPTION_WIDTH)),  # one printable line
                )
            )
        return out

    def _sort_keys(self) -> list[Callable[[Hook], Any]]:
        def stat(attr: str) -> Callable[[Hook], Any]:
            return lambda h: getattr(st, attr) if (st := self.stats.get(h.name)) else None

        return [
            lambda h: h.name,
            lambda h: h.enabled,
            lambda h: ", ".join(h.events),
            lambda h: h.run_count,
            stat("failures"),
            stat("success_rate"),
            stat("avg_ms"),
            stat("p95_ms"),
            lambda h: h.last_run,
            lambda h: h.description,
        ]

    def draw(self) -> None:
        table = self.table
        keep = self.current_name
        self.hooks = self.sort.apply(self._loaded, self._sort_keys())
        shown = columns_for(self.app.size.width, COLUMNS, DROPS)
        table.show_columns([self.sort.label(i) for i in range(len(COLUMNS))], shown)
        rows = [tuple(row[i] for i in shown) for row in self.rows()]
        table.set_rows(rows, [hook.name for hook in self.hooks], fit_width=table.size.width)
        if keep is not None and keep in {h.name for h in self.hooks}:
            table.move_cursor(row=table.get_row_index(keep), animate=False)
        enabled = sum(h.enabled for h in self.hooks)
        title = Text(f" {len(self.hooks)} hooks, {enabled} enabled")
        auto = sum(not h.enabled and bool(h.disabled_reason) for h in self.hooks)
        if auto:  # switched off by the engine: worth a look
            title.append(f", {auto} auto-disabled", style=tones_of(self).bad)
        title.append("   ")
        if self.sort.describe():
            title.append(f"{self.sort.describe()}   ", style="bold")
        if not self.hooks:
            title.append("no hooks yet: n creates one from a template", style="italic")
        elif self.app.size.width >= 100:  # narrower, the footer has the keys
            title.append(KEYS_HINT, style="dim")
        self.query_one("#hooks-title", Static).update(title)
        self.show_policy()

    def show_policy(self) -> None:
        """The panel under the table: the highlighted hook's policy and off reason."""
        name = self.current_name
        hook = next((h for h in self.hooks if h.name == name), None)
        text = None if hook is None else policy_panel(hook, tones_of(self))
        panel = self.query_one("#hooks-policy", Static)
        panel.display = text is not None
        panel.update(text or "")

    def on_data_table_row_highlighted(self, message: DataTable.RowHighlighted) -> None:
        with contextlib.suppress(NoMatches):
            self.show_policy()

    @property
    def current_name(self) -> str | None:
        table = self.table
        if not self.hooks or table.row_count == 0:
            return None
        row = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
        return str(row.value) if row.value is not None else None

    def current(self) -> Hook | None:
        name = self.current_name
        hook = next((h for h in self.hooks if h.name == name), None)
        if hook is None:
            fmt.notify(self, "No hook selected: n creates one.")
        return hook

    def nav_record(self) -> tuple[str, object] | None:
        name = self.current_name
        hook = next((h for h in self.hooks if h.name == name), None)
        return None if hook is None else (f"hook {hook.name}", hook.to_dict())

    def select(self, name: str) -> None:
        """Put the cursor on hook `name` (once the table has it)."""
        if name in {h.name for h in self.hooks}:
            self.table.move_cursor(row=self.table.get_row_index(name), animate=False)

    # -- actions ----------------------------------------------------------------------

    def on_data_table_row_selected(self, message: DataTable.RowSelected) -> None:
        message.stop()
        self.action_edit()

    def action_new(self) -> None:
        def created(hook: Hook | None) -> None:
            if hook is not None:
                fmt.notify(self, f"Created hook {hook.name} ({hook.file})")
                self.load()
                self.app.push_screen(HookEditorScreen(hook))

        self.app.push_screen(NewHookScreen(self.sloth.hooks_dir), created)

    def action_edit(self) -> None:
        if (hook := self.current()) is not None:
            self.app.push_screen(HookEditorScreen(hook))

    def action_test(self) -> None:
        if (hook := self.current()) is not None:
            self.app.push_screen(HookEditorScreen(hook, run_test=True))

    def action_runs(self) -> None:
        if (hook := self.current()) is not None:
            self.sloth.action_show("executions")
            screen = self.app.screen
            if hasattr(screen, "set_filter"):
                screen.set_filter(f"hook:{hook.name}")

    async def action_toggle_enabled(self) -> None:  # not DOMNode.action_toggle
        if (hook := self.current()) is None:
            return
        try:
            await self.engine.set_hook_enabled(hook.name, not hook.enabled)
        except SlothError as exc:
            fmt.notify(self, str(exc), title="Could not change the hook", severity="error")
            return
        cleared = (
            f"; it was off because: {hook.disabled_reason}"
            if not hook.enabled and hook.disabled_reason
            else ""
        )
        fmt.notify(self, f"Hook {hook.name} {'disabled' if hook.enabled else 'enabled'}{cleared}")
        self.load()

    def action_delete(self) -> None:
        if (hook := self.current()) is None:
            return

        async def answer(choice: str | None) -> None:
            if choice != "delete":
                return
            try:
                await self.engine.delete_hook(hook.name)
            except SlothError as exc:
                fmt.notify(self, str(exc), title="Could not delete", severity="error")
                return
            fmt.notify(self, f"Deleted hook {hook.name}; its file {hook.file} is kept")
            self.load()

        self.app.push_screen(
            ConfirmScreen(
                f"Delete hook {hook.name}?",
                f"It stops running on {', '.join(hook.events)} and its saved state is dropped. "
                f"Its runs stay in the history, and its Lua file stays on disk:\n{hook.file}",
                [Choice("y", "Delete", "delete", "error"), Choice("n", "Keep", "keep")],
            ),
            answer,
        )
