"""A DataTable whose rows are replaced as a whole, with the columns sized first.

Its cells are text, never markup (DataTable parses a str cell as Rich markup, and
`[/srv]` in a hook's error would raise MarkupError), and nothing in them reaches the
terminal as a control sequence. Replacing the rows keeps the highlighted row where the
operator left it, on screen too: a live table does not move under the reader.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Size
from textual.widgets import DataTable

CELL_MAX = 256  # characters of one cell; a longer one is cut with an ellipsis
MIN_LAST = 4  # cells the last column keeps however narrow the terminal (then it scrolls):
# enough for "ab…", so a cut is marked on screen, not at the edge of a sideways scroll

# What a terminal could act on, or that reorders what follows: C0 and C1 controls, DEL,
# bidi overrides and isolates, and lone surrogates (which cannot even be encoded).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _picture(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # the control's own picture: ESC shows as ␛
    return "\u2421" if code == 0x7F else "\ufffd"


def _picture_or_space(match: re.Match[str]) -> str:
    return " " if match.group() == "\t" else _picture(match)


def _picture_but_newline(match: re.Match[str]) -> str:
    return "\n" if match.group() == "\n" else _picture_or_space(match)


def printable(text: str, *, lines: bool = False) -> str:
    """`text` with nothing a terminal would act on: control characters show as their
    Unicode pictures (`\\x1b[2J` as `␛[2J`), C1 controls, bidi overrides and lone
    surrogates as `�`, a tab as a space. One character for one, so the spans of a Text
    stay right. A newline shows as `␊` (one line, such as a table cell), or stays one
    with lines=True (a multi-line view).
    """
    if not _UNSAFE.search(text):
        return text
    return _UNSAFE.sub(_picture_but_newline if lines else _picture_or_space, text)


def plain(text: str, style: str | Style = "", *, lines: bool = False) -> Text:
    """Text from strangers as a Text: shown as written, never parsed as markup."""
    return Text(printable(text, lines=lines), style=style)


def safe_cell(cell: object) -> object:
    """A table cell as text: a str is plain (not markup), any text is printable and at
    most CELL_MAX characters. Other renderables pass as they are."""
    if isinstance(cell, str):
        text = plain(cell)
    elif isinstance(cell, Text):
        text = cell.copy()
        text.plain = printable(text.plain)  # same length: the styles stay where they were
    else:
        return cell
    if len(text) > CELL_MAX:
        text.truncate(CELL_MAX - 1)
        text.append("…")
    return text


def _width(cell: object) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return max((cell_len(line) for line in text.splitlines()), default=0)


def fit_columns(table: DataTable[object], rows: Sequence[Sequence[object]]) -> None:
    """Give each column the width of its widest cell in `rows` (or of its label).

    DataTable measures new rows only when idle, and a frame drawn before that keeps
    header-wide cells in its render caches, which nothing clears once the columns
    widen (Textual 8.2): a table could stay truncated. Call after clear(), before
    adding `rows`, so every frame is drawn at the final widths.
    """
    for index, column in enumerate(table.ordered_columns):
        widest = max((_width(row[index]) for row in rows), default=0)
        column.content_width = max(_width(column.label), widest)


def columns_for(
    width: int, columns: Sequence[str], drops: Sequence[tuple[int, Sequence[str]]]
) -> tuple[int, ...]:
    """Indexes of `columns` to show on a terminal `width` cells wide: each (below, names)
    of `drops` leaves `names` out below that width (the least useful go first, at the
    widest breakpoint). Whatever is kept is shown whole: the table scrolls sideways."""
    gone = {name for below, names in drops if width < below for name in names}
    return tuple(i for i, name in enumerate(columns) if name not in gone)


class FittedTable(DataTable[object]):
    shown_columns: tuple[int, ...] = ()  # indexes into the screen's full column list

    def show_columns(self, labels: Sequence[object], shown: tuple[int, ...]) -> None:
        """Make the columns `labels[i]` for i in `shown` (rebuilt only when they change)."""
        if shown != self.shown_columns or len(self.ordered_columns) != len(shown):
            self.clear(columns=True)
            self.add_columns(*(labels[i] for i in shown))  # type: ignore[arg-type]
            self.shown_columns = shown
        else:
            for column, i in zip(self.ordered_columns, shown, strict=True):
                column.label = labels[i]  # type: ignore[assignment]

    def set_rows(
        self,
        rows: Sequence[Sequence[object]],
        keys: Sequence[str],
        *,
        keep: str | None = None,
        fit_width: int | None = None,
    ) -> None:
        """Replace every row (row i gets key i), the columns sized before any is added.

        `keep`: the key of the row to leave highlighted. That row stays on the same line
        of the screen, so rows arriving or leaving around it move nothing the operator
        reads (when it is gone, the cursor stays at its index). Without `keep`, the
        cursor and the view go to the first row. Cells are made safe (`safe_cell`).
        """
        cells = [[safe_cell(cell) for cell in row] for row in rows]
        if fit_width is not None and cells:
            self._clip_last(cells, fit_width)
        was = self.cursor_row
        line = was - round(self.scroll_y)  # the cursor's line on screen
        before = self._key_at(was)
        # clear() puts the cursor on (0, 0) through its watcher, which scrolls to it
        # after the next refresh, whatever the cursor is by then: set it quietly first.
        self.set_reactive(DataTable.cursor_coordinate, Coordinate(0, 0))
        self.clear()
        fit_columns(self, cells)
        for row, key in zip(cells, keys, strict=True):
            self.add_row(*row, key=key)
        # Textual sizes the table when idle; the rows are one line each and the columns
        # are fitted, so the size is known now, and the scroll below is not clamped to
        # the old one (nor is a frame drawn at the top first).
        width = sum(column.get_render_width(self) for column in self.ordered_columns)
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width, len(cells) + header)
        index = top = 0
        if keep is not None and cells:
            index = keys.index(keep) if keep in keys else min(was, len(cells) - 1)
            top = max(0, index - line)
        if cells:
            self.set_reactive(DataTable.cursor_coordinate, Coordinate(index, 0))
        self.scroll_to(y=top, animate=False, force=True, immediate=True)
        after = self._key_at(index) if cells else None
        if after is not None and after != before:
            self.post_message(DataTable.RowHighlighted(self, index, self.ordered_rows[index].key))

    def _clip_last(self, cells: list[list[object]], width: int) -> None:
        """Cut the last column's cells (the free text) so the table fits `width` cells,
        each cut marked with `…`; the other columns are shown whole."""
        pad = 2 * self.cell_padding
        columns = self.ordered_columns
        others = sum(
            max(_width(columns[i].label), *(_width(row[i]) for row in cells)) + pad
            for i in range(len(columns) - 1)
        )
        room = max(MIN_LAST, width - others - pad - 1)  # 1: the vertical scrollbar
        for row in cells:
            last = row[-1]
            if isinstance(last, Text) and last.cell_len > room:
                last.truncate(room - 1)
                last.append("…")

    def _key_at(self, index: int) -> str | None:
        if not 0 <= index < self.row_count:
            return None
        value = self.coordinate_to_cell_key(Coordinate(index, 0)).row_key.value
        return None if value is None else str(value)
