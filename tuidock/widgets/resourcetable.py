"""A DataTable of resources (images, containers) with marks, a filter, and cell-level sync.

Columns are chosen to fit the width: by PRIORITY, the first ESSENTIAL ones
always (shrunk down to MIN_WIDTH, then to their label, with SHORT forms of
their cells, when the pane is narrow; the least wanted of them dropped only
when even that does not fit), the others while they fit; a resize chooses
again. The columns shown never run past the pane's width.

`sync(rows)` is called with the full desired content on every refresh; it
touches the widget only where something changed: if the visible rows are the
same keys in the same order, only differing cells are updated; otherwise the
rows are rebuilt and the cursor stays on the same key. A tick where nothing
changed costs a comparison of tuples and no repaint at all.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from rich.cells import cell_len
from rich.text import Text
from textual.events import Resize
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

from tuidock.keymap import bind

MARK = "●"
AUTO_WIDTH_MAX = 40
MIN_CELLS = 3  # the narrowest a shrunk column gets
Cell = str | Text


@dataclass(frozen=True)
class Row:
    key: str
    cells: tuple[Cell, ...]  # without the mark column
    search_text: str  # what the filter matches against
    # Per column, what sorting compares (sizes as bytes, ages as timestamps);
    # empty: the cells' text.
    sort_keys: tuple = ()

    def sort_key(self, column: int) -> object:
        if self.sort_keys:
            return self.sort_keys[column]
        cell = self.cells[column]
        return (cell.plain if isinstance(cell, Text) else cell).casefold()


def _cell_width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


def _as_text(cell: Cell) -> Cell:
    """What the DataTable is given: it parses a str cell as markup each time the
    row is repainted (a profile's main cost after the render itself); a Text
    is used as it is, and a "[" in a name shows as typed."""
    return Text(cell, end="", no_wrap=True) if isinstance(cell, str) else cell


def _keys(cache) -> list:  # type: ignore[no-untyped-def]
    return list(cache.keys())


def compile_filter(text: str) -> tuple[re.Pattern[str] | None, bool]:
    """k9s-style filter: a regex if it compiles, else literal; "!" in front inverts."""
    invert = text.startswith("!")
    body = text[1:] if invert else text
    if not body:
        return None, False
    try:
        pattern = re.compile(body, re.IGNORECASE)
    except re.error:
        pattern = re.compile(re.escape(body), re.IGNORECASE)
    return pattern, invert


class ResourceTable(DataTable):
    """Base of the images and containers tables."""

    BINDINGS = [  # noqa: RUF012 - Textual's class-level binding table
        bind("list.mark", "toggle_mark"),
        bind("list.unmark", "clear_marks", show=False),
        bind("list.down", "cursor_down", show=False),
        bind("list.up", "cursor_up", show=False),
        bind("list.filter", "filter"),
        bind("list.delete", "delete"),
        bind("list.inspect", "inspect"),
        bind("list.sort", "sort_next", show=False),
        bind("list.menu", "menu"),
        bind("list.copy", "copy_id", show=False),
        bind("list.mark_range", "mark_range", show=False),
        bind("list.sort_reverse", "sort_reverse", show=False),
    ]

    COLUMNS: Sequence[tuple[str, str, int | None]] = ()  # (key, label, width)
    PRIORITY: Sequence[str] = ()  # column keys, most wanted first; empty: COLUMNS' order
    ESSENTIAL = 1  # how many of PRIORITY are shown whatever the width
    MIN_WIDTH: Mapping[str, int] = {}  # how far an essential column shrinks
    # A shorter form of a column's cells, used while the column is narrower than its cells.
    SHORT: Mapping[str, Callable[[Cell], Cell]] = {}

    class FilterRequested(Message):
        def __init__(self, table: ResourceTable) -> None:
            self.table = table
            super().__init__()

        @property
        def control(self) -> ResourceTable:
            return self.table

    class DeleteRequested(Message):
        def __init__(self, table: ResourceTable, keys: list[str]) -> None:
            self.table = table
            self.keys = keys
            super().__init__()

        @property
        def control(self) -> ResourceTable:
            return self.table

    class RowRequest(Message):
        """Something asked for one row (by its key)."""

        def __init__(self, table: ResourceTable, key: str) -> None:
            self.table = table
            self.key = key
            super().__init__()

        @property
        def control(self) -> ResourceTable:
            return self.table

    class MenuRequested(RowRequest):
        pass

    class InspectRequested(RowRequest):
        pass

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=False)
        self.marks: set[str] = set()
        self._anchor: str | None = None  # the last row marked by hand: where a range starts
        self._all: list[Row] = []
        self._shown: dict[str, tuple[Cell, ...]] = {}  # key -> cells on screen
        self._order: list[str] = []
        self._filter: tuple[re.Pattern[str] | None, bool] = (None, False)
        self.filter_text = ""
        # None: the order the engine lists (newest first); else a column index.
        self.sort_column: int | None = None
        self.sort_reverse = False
        self._natural: list[int] = []  # each column's width for its cells
        self._layout: tuple[list[int], list[int]] = ([], [])  # (shown columns, their widths)
        self._short: set[int] = set()  # columns shown in their SHORT form

    def on_mount(self) -> None:
        self._add_columns([])

    def _natural_widths(self, rows: list[Row]) -> list[int]:
        widths = []
        for i, (_key, label, width) in enumerate(self.COLUMNS):
            if width is None:
                width = max([len(label), *(_cell_width(r.cells[i]) for r in rows)])
                width = min(width, AUTO_WIDTH_MAX)
            widths.append(max(width, len(label) + (1 if i == self.sort_column else 0)))
        return widths

    def _fit(self, natural: list[int]) -> tuple[list[int], list[int]]:
        """(the columns shown, in COLUMNS' order; every column's width) for the width."""
        widths = list(natural)
        everything = list(range(len(self.COLUMNS)))
        if self.size.width <= 0:  # not laid out yet
            return everything, widths
        pad = 2 * self.cell_padding
        avail = self.size.width - self.styles.scrollbar_size_vertical - (1 + pad)  # mark
        keys = [c[0] for c in self.COLUMNS]
        order = [keys.index(k) for k in self.PRIORITY if k in keys]
        order += [i for i in everything if i not in order]
        chosen: list[int] = []
        used = 0
        for rank, i in enumerate(order):
            if used + widths[i] + pad <= avail or rank < self.ESSENTIAL:
                chosen.append(i)
                used += widths[i] + pad
        over = used - avail
        # Shrinking, least wanted first: to MIN_WIDTH (never below the label), then
        # to the label alone; if the essential columns still do not fit, the
        # least wanted of them go (never the first): a row never runs past the pane.
        for floor in (
            lambda i: max(self.MIN_WIDTH.get(keys[i], widths[i]), len(self.COLUMNS[i][1])),
            lambda i: min(widths[i], max(MIN_CELLS, len(self.COLUMNS[i][1]))),
        ):
            for i in reversed(chosen):
                if over <= 0:
                    break
                cut = min(over, widths[i] - floor(i))
                if cut > 0:
                    widths[i] -= cut
                    over -= cut
        while over > 0 and len(chosen) > 1:
            over -= widths[chosen[-1]] + pad
            chosen.pop()
        if over > 0:
            widths[chosen[0]] = max(1, widths[chosen[0]] - over)
        return sorted(chosen), widths

    def _add_columns(self, rows: list[Row]) -> None:
        """Columns sized to the rows: DataTable's own auto width can leave rows
        painted at the old width, so widths are fixed each time rows are rebuilt."""
        self._natural = self._natural_widths(rows)
        self._layout = shown, widths = self._fit(self._natural)
        self._short = {i for i in shown if widths[i] < self._natural[i]}
        self.add_column(" ", key="mark", width=1)
        for i in shown:
            key, label, _ = self.COLUMNS[i]
            if i == self.sort_column:
                label = f"{label}{'▼' if self.sort_reverse else '▲'}"
            self.add_column(label, key=key, width=widths[i])

    @property
    def shown_columns(self) -> list[str]:
        """The keys of the columns on screen, left to right."""
        return [self.COLUMNS[i][0] for i in self._layout[0]]

    def _cells(self, row: Row) -> tuple[Cell, ...]:
        """A row's cells on screen: the mark, then the shown columns."""
        cells: list[Cell] = [self._mark_cell(row.key)]
        for i in self._layout[0]:
            cell = row.cells[i]
            if i in self._short:
                short = self.SHORT.get(self.COLUMNS[i][0])
                cell = short(cell) if short else cell
            cells.append(cell)
        return tuple(cells)

    def on_resize(self, event: Resize) -> None:
        if self._natural and self._fit(self._natural) != self._layout:
            self._apply(rebuild=True)

    # -- content --------------------------------------------------------------

    def sync(self, rows: list[Row]) -> None:
        self._all = rows
        self.marks &= {r.key for r in rows}
        self._apply()

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._filter = compile_filter(text)
        self._apply()

    def _visible(self) -> list[Row]:
        pattern, invert = self._filter
        rows = self._all
        if pattern is not None:
            rows = [r for r in rows if bool(pattern.search(r.search_text)) != invert]
        column = self.sort_column
        if column is not None:
            # Stable, and ties keep the engine's order, so equal rows never swap
            # places between two refreshes.
            rows = sorted(rows, key=lambda r: r.sort_key(column), reverse=self.sort_reverse)
        return rows

    def _apply(self, rebuild: bool = False) -> None:
        rows = self._visible()
        keys = [r.key for r in rows]
        if keys == self._order and not rebuild:
            changes: dict[str, list[tuple[str, Cell]]] = {}
            for row in rows:
                old = self._shown[row.key]
                cells = self._cells(row)
                if cells != old:
                    if self._outgrown(row):
                        self._apply(rebuild=True)
                        return
                    changes[row.key] = [
                        (self._column_key(i), b)
                        for i, (a, b) in enumerate(zip(old, cells, strict=True))
                        if a != b
                    ]
                    self._shown[row.key] = cells
            if changes:
                self._set_cells(changes)
            return
        current = self.current_key
        self.clear(columns=True)
        self._add_columns(rows)
        self._shown = {}
        for row in rows:
            cells = self._cells(row)
            self.add_row(*map(_as_text, cells), key=row.key)
            self._shown[row.key] = cells
        self._order = keys
        if current in self._shown:
            self.move_cursor(row=keys.index(current), animate=False)
        elif keys:
            self.move_cursor(row=min(self.cursor_row, len(keys) - 1), animate=False)

    def _outgrown(self, row: Row) -> bool:
        """Whether a changed row has a cell wider than its auto-sized column was
        made for (a container renamed, an image tagged longer): the columns are
        sized again then, else the new text stays cut until the rows change.
        Only rows whose cells changed are measured: an idle refresh measures nothing."""
        natural = self._natural
        return any(
            width is None
            and i < len(natural)
            and natural[i] < AUTO_WIDTH_MAX
            and _cell_width(row.cells[i]) > natural[i]
            for i, (_key, _label, width) in enumerate(self.COLUMNS)
        )

    def _set_cells(self, changes: dict[str, list[tuple[str, Cell]]]) -> None:
        """update_cell for many cells, repainting only their rows.

        DataTable.update_cell bumps a table-wide counter that is part of every
        render cache key, so one changed CPU% re-renders every visible cell
        (measured: the bulk of the idle CPU with 50 containers). Here the data
        is set and only the cached renders of those cells and rows are dropped,
        in one pass over each cache per refresh (a pass per cell cost more than
        the repaint). These caches are DataTable internals (Textual 8.2): if they
        are not as expected, fall back to the public update_cell.
        """
        try:
            cells: set[tuple[RowKey, ColumnKey]] = set()
            for key, row in changes.items():
                row_key = RowKey(key)
                if row_key not in self._row_locations:
                    raise KeyError(key)
                for column, value in row:
                    column_key = ColumnKey(column)
                    if column_key not in self._column_locations:
                        raise KeyError(column)
                    self._data[row_key][column_key] = _as_text(value)
                    cells.add((row_key, column_key))
            rows = {row_key for row_key, _ in cells}
            self._forget_renders(cells, rows)
            for row_key in rows:
                self.refresh_row(self._row_locations.get(row_key))
        except (AttributeError, KeyError, TypeError, IndexError):
            for key, row in changes.items():
                for column, value in row:
                    self.update_cell(key, column, value)

    def _set_cell(self, key: str, column: str, value: Cell) -> None:
        self._set_cells({key: [(column, value)]})

    def _forget_renders(self, cells: set[tuple[RowKey, ColumnKey]], rows: set[RowKey]) -> None:
        indexes = {self._row_locations.get(row_key) for row_key in rows}
        for k in _keys(self._cell_render_cache):
            if (k[0], k[1]) in cells:
                self._cell_render_cache.discard(k)
        for k in _keys(self._row_render_cache):
            if k[0] in rows:
                self._row_render_cache.discard(k)
        for k in _keys(self._row_renderable_cache):
            if k[1] in indexes:
                self._row_renderable_cache.discard(k)
        # Lines are cached by y, not by row: finding a row's lines costs more than
        # re-composing the few unchanged lines from the row caches kept above.
        self._line_cache.clear()

    def _column_key(self, index: int) -> str:
        return "mark" if index == 0 else self.COLUMNS[self._layout[0][index - 1]][0]

    def _mark_cell(self, key: str) -> Cell:
        return Text(MARK, style="bold yellow") if key in self.marks else " "

    @property
    def current_key(self) -> str | None:
        if not self._order or self.cursor_row < 0 or self.cursor_row >= len(self._order):
            return None
        return self._order[self.cursor_row]

    def selection(self) -> list[str]:
        """Marked rows that are visible, else the row under the cursor."""
        marked = [k for k in self._order if k in self.marks]
        if marked:
            return marked
        key = self.current_key
        return [key] if key else []

    def select_key(self, key: str) -> bool:
        if key in self._order:
            self.move_cursor(row=self._order.index(key), animate=False)
            return True
        return False

    # -- actions ----------------------------------------------------------------

    def _refresh_mark(self, key: str) -> None:
        if key in self._shown:
            cell = self._mark_cell(key)
            self._set_cell(key, "mark", cell)
            self._shown[key] = (cell, *self._shown[key][1:])

    def action_toggle_mark(self) -> None:
        key = self.current_key
        if key is None:
            return
        self.marks ^= {key}
        self._anchor = key if key in self.marks else None
        self._refresh_mark(key)
        self.action_cursor_down()

    def action_mark_range(self) -> None:
        """Mark every row from the last marked one to the cursor (k9s' range select)."""
        key = self.current_key
        if key is None:
            return
        start = self._order.index(self._anchor) if self._anchor in self._order else self.cursor_row
        lo, hi = sorted((start, self.cursor_row))
        for k in self._order[lo : hi + 1]:
            if k not in self.marks:
                self.marks.add(k)
                self._refresh_mark(k)
        self._anchor = key

    def action_clear_marks(self) -> None:
        old, self.marks = self.marks, set()
        for key in old:
            self._refresh_mark(key)

    def set_sort(self, column: int | None, reverse: bool = False) -> None:
        self.sort_column, self.sort_reverse = column, reverse
        self._apply(rebuild=True)  # the header shows the sort column

    def action_sort_next(self) -> None:
        """Cycle the sort column: none, then each shown column left to right.

        A column the pane's width hides is skipped: sorting by it would reorder
        the rows by nothing the user sees, and no header would carry the arrow."""
        shown = self._layout[0] or list(range(len(self.COLUMNS)))
        column = self.sort_column
        later = [i for i in shown if column is None or i > column]
        nxt = later[0] if later else None
        self.set_sort(nxt)
        label = self.COLUMNS[nxt][1] if nxt is not None else "the engine's order"
        self.notify(f"Sorted by {label}", timeout=1.5)

    def action_sort_reverse(self) -> None:
        if self.sort_column is not None:
            self.set_sort(self.sort_column, not self.sort_reverse)

    def action_filter(self) -> None:
        self.post_message(self.FilterRequested(self))

    def action_delete(self) -> None:
        keys = self.selection()
        if keys:
            self.post_message(self.DeleteRequested(self, keys))

    def action_menu(self) -> None:
        key = self.current_key
        if key:
            self.post_message(self.MenuRequested(self, key))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        # Enter (or a click on the selected row) opens the row's menu.
        event.stop()
        self.action_menu()

    def copy_text(self, key: str) -> str:
        """What `y` copies for a row: its full ID."""
        return key

    def action_copy_id(self) -> None:
        key = self.current_key
        if key:
            text = self.copy_text(key)
            # OSC 52: the terminal puts it on the clipboard, over SSH too.
            self.app.copy_to_clipboard(text)
            self.notify(f"copied {text}", timeout=2)

    def action_inspect(self) -> None:
        key = self.current_key
        if key:
            self.post_message(self.InspectRequested(self, key))
