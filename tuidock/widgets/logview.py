"""A log view that renders only the lines on screen (Textual's Line API).

Lines are kept as parsed records; `render_line` builds the strip of one
screen row on demand (cached), so 100k lines cost what the visible 40 cost.
Wrapping maps screen rows to (line, part) through a prefix sum of each
line's row count, rebuilt only when the width or the wrap flag changes and
extended as lines arrive. Search highlights matches in place: every other
line stays where it was (users of lazydocker and k9s asked for exactly that);
n/N walk the matching lines.

Filter mode shows only the matching lines: the rows then map through the
sorted list of matches instead of every line (the same prefix sum, over the
lines shown).

Memory is bounded by a byte budget, not a line count: a container writing
10 MB/s must not make the UI hold millions of lines. Each line costs its
text plus a fixed overhead (the record, its timestamp, the indexes); past
BYTE_BUDGET the oldest lines are dropped, a quarter of the budget at a time
so the O(n) reindex is amortised, and the title says how many went. A batch
larger than the budget is cut to its newest lines before it is kept.

What is held is one contiguous stretch of the log. Lines older than it are
not lost: scrolling to its top posts OlderWanted and the pane reads the
stretch before it back from the engine's log file (`prepend`; past the
budget the newest lines go then, and `newer_cut` says the bottom is no longer
held: G reloads it). A batch after a gap (a flood the follower passed over)
replaces what is held while following, and is left out while the user reads
older lines.

Per line the UI thread does little: widths and costs come computed from
the follower's thread (`append(..., widths=)`), and rendering builds only
the rows on screen.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.events import MouseScrollUp, Resize
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from tuidock.backends.base import LogLine
from tuidock.keymap import bind

STDERR_MARK = "▌"
# Colours of the container names in the all-containers stream, by a hash of the name.
SOURCE_COLORS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta")
# Searches over more lines than this run in a thread, so Enter never stalls the UI.
SYNC_SEARCH_LIMIT = 20_000
BYTE_BUDGET = 8 * 1024 * 1024  # what the kept lines may cost; beyond it the oldest go
# A line's cost beyond its text: the LogLine, its timestamp string, its place in
# the file (a tuple of two ints), the index entries.
LINE_OVERHEAD = 280


def line_cost(line: LogLine) -> int:
    return len(line.text) + LINE_OVERHEAD


def newest_within(lines: list[LogLine], budget: int = BYTE_BUDGET) -> tuple[list[LogLine], int]:
    """(the newest lines that fit in `budget`, how many older ones were left out)."""
    total = 0
    k = len(lines)
    while k > 0:
        cost = line_cost(lines[k - 1])
        if total + cost > budget:
            break
        total += cost
        k -= 1
    return (lines[k:] if k else lines), k


def text_width(text: str) -> int:
    return len(text) if text.isascii() else cell_len(text)


def short_time(rfc3339: str) -> str:
    """ "2024-05-01T12:00:00.123456789Z" -> "2024-05-01 12:00:00.123" (UTC, as stored)."""
    return f"{rfc3339[:10]} {rfc3339[11:23]}".ljust(23)


def compile_search(text: str) -> re.Pattern[str] | None:
    """A case-insensitive regex; text that is not a valid regex is searched literally."""
    if not text:
        return None
    try:
        return re.compile(text, re.IGNORECASE)
    except re.error:
        return re.compile(re.escape(text), re.IGNORECASE)


def line_widths(lines: list[LogLine]) -> list[int]:
    return [text_width(line.text) for line in lines]


@dataclass(frozen=True)
class LogStatus:
    lines: int
    matches: int
    current: int | None  # 1-based position of the current match
    follow: bool
    wrap: bool
    timestamps: bool
    search: str
    dropped: int = 0  # older lines no longer held in memory
    filter: bool = False  # only matching lines shown
    older: bool = False  # earlier lines can be read back (scroll up)
    loading: bool = False  # a read-back is under way
    newer_cut: bool = False  # the newest lines are not held (G reloads them)


class LogView(ScrollView, can_focus=True):
    COMPONENT_CLASSES = {  # noqa: RUF012
        "logview--stderr",
        "logview--time",
        "logview--match",
        "logview--current",
    }
    DEFAULT_CSS = """
    LogView > .logview--stderr { color: $error; }
    LogView > .logview--time { color: $text-muted; }
    LogView > .logview--match { background: $warning 60%; color: $text; text-style: bold; }
    LogView > .logview--current { background: $accent 30%; }
    """
    BINDINGS = [  # noqa: RUF012
        bind("logs.search", "search"),
        bind("logs.next", "next_match"),
        bind("logs.prev", "prev_match"),
        bind("logs.timestamps", "toggle_timestamps"),
        bind("logs.wrap", "toggle_wrap"),
        bind("logs.follow", "toggle_follow"),
        bind("logs.save", "save"),
        bind("logs.all", "toggle_all"),
        bind("logs.filter", "toggle_filter"),
        bind("logs.tail", "cycle_tail"),
        bind("logs.since", "cycle_since"),
        bind("logs.top", "top", show=False),
        bind("logs.bottom", "bottom", show=False),
        bind("list.down", "scroll_down", show=False),
        bind("list.up", "scroll_up", show=False),
    ]

    follow: reactive[bool] = reactive(True)
    wrap: reactive[bool] = reactive(False)
    show_timestamps: reactive[bool] = reactive(False)
    filter_mode: reactive[bool] = reactive(False)

    class StatusChanged(Message):
        def __init__(self, view: LogView, status: LogStatus) -> None:
            self.view = view
            self.status = status
            super().__init__()

    class SearchRequested(Message):
        pass

    class SaveRequested(Message):
        pass

    class AllRequested(Message):
        pass

    class WindowRequested(Message):
        """The tail (which="tail") or since (which="since") window's next choice."""

        def __init__(self, which: str) -> None:
            self.which = which
            super().__init__()

    class OlderWanted(Message):
        """The top of what is held is on screen: read back what came before `first`."""

        def __init__(self, first: LogLine) -> None:
            self.first = first
            super().__init__()

    class ReloadWanted(Message):
        """Back to the bottom while the newest lines are not held: follow anew."""

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: list[LogLine] = []
        self._widths: list[int] = []
        self._max_width = 0
        self._starts: list[int] | None = None  # wrap: first screen row of each line, + total
        self._wrap_width = 0
        self._pattern: re.Pattern[str] | None = None
        self.search_text = ""
        self.matches: list[int] = []
        self.current: int | None = None  # index into self.lines of the current match
        self._search_gen = 0
        self._cache: LRUCache[tuple[int, int], Strip] = LRUCache(4096)
        self._styles: dict[str, Style] = {}  # _style's
        self.budget = BYTE_BUDGET
        self.bytes = 0  # the kept lines' cost (line_cost)
        self.dropped = 0  # lines dropped from memory since the last clear
        self.can_read_back = False  # the pane's follower has read_before
        self.older = False  # lines before lines[0] may be read back
        self.loading = False  # an OlderWanted is being answered
        self.newer_cut = False  # lines after lines[-1] were left out (prepend, gap)
        self.layouts_skipped = 0  # size changes that did not re-lay out the screen

    # -- content ------------------------------------------------------------------

    def clear(self) -> None:
        self.lines = []
        self._widths = []
        self._max_width = 0
        self._starts = [0] if self.wrap else None
        self.matches = []
        self.current = None
        self._search_gen += 1
        self._cache.clear()
        self.bytes = 0
        self.dropped = 0
        self.older = False
        self.loading = False
        self.newer_cut = False
        self._update_size()
        self.scroll_to(0, 0, animate=False)
        self._post_status()

    def append(
        self,
        lines: list[LogLine],
        dropped: int = 0,
        widths: list[int] | None = None,
        gap: bool = False,
        cost: int | None = None,
    ) -> None:
        """Add lines at the end. `dropped`: older ones the caller already left
        out; `gap`: lines between what is held and these were passed over;
        `widths`: text_width of each line, `cost`: the sum of their line_cost,
        when computed off this thread."""
        if gap or dropped:
            if not self.follow and self.lines:
                # The user reads what is held: it stays; G brings the newest back.
                self._cut_newer()
                return
            self._drop(len(self.lines))  # what is kept is older than what was left out
            self.dropped += dropped
            self.older = self.can_read_back
            self.newer_cut = False
        elif self.newer_cut:
            return  # not contiguous with what is held
        if cost is None:
            cost = sum(map(line_cost, lines))
        if len(lines) > 1 and cost > self.budget:
            lines, skipped = newest_within(lines, self.budget)
            cost = sum(map(line_cost, lines))
            widths = widths[len(widths) - len(lines) :] if widths is not None else None
            self._drop(len(self.lines))
            self.dropped += skipped
        if not lines:
            if dropped or gap:
                self._post_status()
            return
        if widths is None:
            widths = line_widths(lines)
        first = len(self.lines)
        shown_before = self._shown_count()
        self.lines.extend(lines)
        self.bytes += cost
        self._widths.extend(widths)
        self._max_width = max(self._max_width, max(widths))
        if self._pattern is not None:
            search = self._pattern.search
            self.matches.extend(
                i for i in range(first, len(self.lines)) if search(self.lines[i].text)
            )
        if self._starts is not None:
            self._extend_starts(shown_before)
        if self.bytes > self.budget:
            # Down to three quarters: the next drop is a quarter of the budget away.
            keep, _ = newest_within(self.lines, self.budget * 3 // 4)
            self._drop(len(self.lines) - len(keep))
        self._update_size()
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
            self.refresh()  # the bottom rows changed even where the scroll did not
        self._post_status()

    def _cut_newer(self) -> None:
        if not self.newer_cut:
            self.newer_cut = True
            self._post_status()

    def prepend(self, lines: list[LogLine], more: bool) -> None:
        """Older lines read back, before what is held; `more`: earlier ones may
        be read back still. The screen keeps showing the same lines."""
        self.loading = False
        self.older = more and bool(lines)
        if not lines:
            self._post_status()
            return
        k = len(lines)
        widths = line_widths(lines)
        self.lines[:0] = lines
        self._widths[:0] = widths
        self.bytes += sum(map(line_cost, lines))
        self._max_width = max(self._max_width, max(widths))
        self.dropped = max(0, self.dropped - k)
        found = _scan(lines, self._pattern) if self._pattern is not None else []
        self.matches = found + [i + k for i in self.matches]
        if self.current is not None:
            self.current += k
        if self.bytes > self.budget:
            # The newest lines go: the user is reading the oldest ones.
            keep = self._oldest_within(self.budget * 3 // 4)
            self._drop_newest(len(self.lines) - keep)
        if self._starts is not None:
            self._rebuild_starts()
        self._cache.clear()
        self._update_size()
        self.scroll_to(y=self.scroll_y + self._line_to_row(k), animate=False, immediate=True)
        self.refresh()
        self._post_status()

    def _oldest_within(self, budget: int) -> int:
        total = 0
        for n, line in enumerate(self.lines):
            total += line_cost(line)
            if total > budget:
                return max(1, n)
        return len(self.lines)

    def _drop_newest(self, k: int) -> None:
        if k <= 0:
            return
        n = len(self.lines) - k
        self.bytes -= sum(map(line_cost, self.lines[n:]))
        del self.lines[n:]
        del self._widths[n:]
        self._max_width = max(self._widths, default=0)
        self.matches = [i for i in self.matches if i < n]
        if self.current is not None and self.current >= n:
            self.current = None
        self.newer_cut = True
        self.follow = False

    def _drop(self, k: int) -> None:
        """Forget the k oldest lines; the screen keeps showing the same lines."""
        if k <= 0:
            return
        if k >= len(self.lines) and self.follow:
            # Everything goes and new lines follow at once: no size change (and
            # relayout of the screen for the scrollbar) between the two.
            self.dropped += k
            self.older = self.can_read_back
            self.lines, self._widths, self.matches = [], [], []
            self._max_width = self.bytes = 0
            self.current = None
            if self._starts is not None:
                self._starts = [0]
            self._cache.clear()
            return
        rows = self._line_to_row(k) if k < len(self.lines) else self.virtual_size.height
        self.bytes -= sum(map(line_cost, self.lines[:k]))
        del self.lines[:k]
        del self._widths[:k]
        self.dropped += k
        self.older = self.can_read_back
        self._max_width = max(self._widths, default=0)
        self.matches = [i - k for i in self.matches if i >= k]
        if self._starts is not None:
            self._rebuild_starts()
        if self.current is not None:
            self.current = self.current - k if self.current >= k else None
        self._cache.clear()
        self._update_size()
        if not self.follow:
            self.scroll_to(y=max(0, self.scroll_y - rows), animate=False, immediate=True)

    # -- geometry -----------------------------------------------------------------------

    @property
    def _prefix_width(self) -> int:
        return 1 + (24 if self.show_timestamps else 0)

    @property
    def _text_width(self) -> int:
        """Cells for text on one wrapped row."""
        return max(1, self.scrollable_content_region.width - self._prefix_width)

    def _rows_of(self, i: int, textw: int) -> int:
        w = self._widths[i]
        return 1 if w <= textw else -(-w // textw)

    def _shown(self) -> list[int] | None:
        """The indexes of the lines on the rows (filter mode), None: every line."""
        return self.matches if self.filter_mode and self._pattern is not None else None

    def _shown_count(self) -> int:
        shown = self._shown()
        return len(self.lines) if shown is None else len(shown)

    def _rebuild_starts(self) -> None:
        textw = self._wrap_width = self._text_width
        shown = self._shown()
        widths = self._widths if shown is None else [self._widths[i] for i in shown]
        starts = [0] * (len(widths) + 1)
        total = 0
        for d, w in enumerate(widths):
            starts[d] = total
            total += 1 if w <= textw else -(-w // textw)
        starts[len(widths)] = total
        self._starts = starts

    def _extend_starts(self, first: int) -> None:
        """Rows for the shown lines from the `first` shown one on."""
        assert self._starts is not None
        textw = self._wrap_width
        shown = self._shown()
        del self._starts[first + 1 :]
        total = self._starts.pop()
        for d in range(first, self._shown_count()):
            self._starts.append(total)
            total += self._rows_of(d if shown is None else shown[d], textw)
        self._starts.append(total)

    def _update_size(self) -> None:
        if self._starts is not None:
            size = Size(self.scrollable_content_region.width, self._starts[-1])
        else:
            size = Size(self._prefix_width + self._max_width, self._shown_count())
        if size == self.virtual_size:
            return
        if not self.container_size:
            self.virtual_size = size  # not laid out yet: the first layout sizes the bars
            return
        # Widget.virtual_size is a layout reactive: assigning it re-lays out the whole
        # screen (about 20 ms of the UI thread at 160x48), on every batch of a flood.
        # The view's own size never depends on its content; what does is which
        # scrollbars show, and _scroll_update sets those through reactives that
        # lay out by themselves when they change. So: the size without a layout,
        # then the scrollbars' lengths and the scroll clamped, then a repaint.
        self.layouts_skipped += 1
        self.set_reactive(LogView.virtual_size, size)
        self._scroll_update(size)
        self.refresh()

    def _row_to_line(self, row: int) -> tuple[int, int]:
        shown = self._shown()
        if self._starts is None:
            d, part = row, 0
        else:
            d = bisect_right(self._starts, row, 0, len(self._starts) - 1) - 1
            part = row - self._starts[d]
        if shown is None:
            return d, part
        return (shown[d] if d < len(shown) else len(self.lines)), part

    def _line_to_row(self, i: int) -> int:
        """The first row of line i (or of the first shown line after it)."""
        shown = self._shown()
        d = i if shown is None else bisect_left(shown, i)
        if self._starts is None:
            return d
        return self._starts[min(d, len(self._starts) - 1)]

    def on_resize(self, event: Resize) -> None:
        if self.wrap and self._text_width != self._wrap_width:
            self._rebuild_starts()
            self._cache.clear()
        self._update_size()

    # -- rendering --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        row = scroll_y + y
        if self._starts is not None:
            if row >= self._starts[-1]:
                return Strip.blank(width, self._style())
        elif row >= self._shown_count():
            return Strip.blank(width, self._style())
        i, part = self._row_to_line(row)
        strip = self._cache.get((i, part))
        if strip is None:
            strip = self._render_part(i, part)
            self._cache.set((i, part), strip)
        if self._starts is None:
            return strip.crop_extend(scroll_x, scroll_x + width, self._style())
        return strip.extend_cell_length(width, self._style())

    def _render_part(self, i: int, part: int) -> Strip:
        line = self.lines[i]
        base = self._style()
        current = i == self.current
        if current:
            base = base + self._style("logview--current")
        prefix: list[Segment] = []
        if part == 0:
            if line.stderr:
                prefix.append(Segment(STDERR_MARK, base + self._style("logview--stderr")))
            else:
                prefix.append(Segment(" ", base))
            if self.show_timestamps:
                style = base + self._style("logview--time")
                prefix.append(Segment(short_time(line.time) + " ", style))
        else:
            prefix.append(Segment(" " * self._prefix_width, base))
        text = self._text_strip(line.text, base)
        if line.source:
            n = len(line.source)
            color = SOURCE_COLORS[sum(line.source.encode()) % len(SOURCE_COLORS)]
            name = text.crop(0, n).apply_style(Style(color=color, bold=True))
            text = Strip([*name, *text.crop(n, text.cell_length)])
        if self._starts is not None:
            textw = self._wrap_width
            text = text.crop(part * textw, (part + 1) * textw)
        return Strip([*prefix, *text])

    def _text_strip(self, text: str, base: Style) -> Strip:
        pattern = self._pattern
        if pattern is None:
            return Strip([Segment(text, base)])
        segments = []
        pos = 0
        match_style = base + self._style("logview--match")
        for m in pattern.finditer(text):
            start, end = m.span()
            if start == end:
                continue
            if start > pos:
                segments.append(Segment(text[pos:start], base))
            segments.append(Segment(text[start:end], match_style))
            pos = end
        if pos < len(text):
            segments.append(Segment(text[pos:], base))
        return Strip(segments)

    def _style(self, component: str = "") -> Style:
        """The view's style ("") or a component's, kept until the styles change.

        Widget.refresh, called for every batch, empties Textual's own cache of
        these; computed again for each row (the background walks the ancestors)
        they cost more than building the row."""
        style = self._styles.get(component)
        if style is None:
            style = self.get_component_rich_style(component) if component else self.rich_style
            self._styles[component] = style
        return style

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles.clear()
        self._cache.clear()

    # -- flags ----------------------------------------------------------------------------------

    def watch_wrap(self, wrap: bool) -> None:
        top_line, _ = self._row_to_line(round(self.scroll_y)) if self.lines else (0, 0)
        if wrap:
            self._rebuild_starts()
        else:
            self._starts = None
        self._cache.clear()
        self._update_size()
        if self.follow:
            self.scroll_to(x=0, y=self.max_scroll_y, animate=False, immediate=True)
        else:
            self.scroll_to(x=0, y=self._line_to_row(top_line) if self.lines else 0, animate=False)
        self.refresh()
        self._post_status()

    def watch_show_timestamps(self) -> None:
        if self._starts is not None:
            self._rebuild_starts()
        self._cache.clear()
        self._update_size()
        self.refresh()
        self._post_status()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._want_older()

    def _want_older(self) -> None:
        """Ask for the lines before the held ones once the top is near the screen."""
        if (
            self.older
            and not self.loading
            and self.lines
            and self.scroll_y < self.scrollable_content_region.height
            and not self.follow
        ):
            self.loading = True
            self.post_message(self.OlderWanted(self.lines[0]))
            self._post_status()

    def watch_filter_mode(self) -> None:
        self._reshape()

    def _reshape(self) -> None:
        """The rows changed (filter on/off, new matches while filtering): same top line."""
        top = self._row_to_line(round(self.scroll_y))[0] if self.lines else 0
        if self._starts is not None:
            self._rebuild_starts()
        self._cache.clear()
        self._update_size()
        if self.follow:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)
        else:
            self.scroll_to(y=self._line_to_row(top), animate=False, immediate=True)
        self.refresh()
        self._post_status()

    def watch_follow(self, follow: bool) -> None:
        if follow and self.newer_cut:
            self.post_message(self.ReloadWanted())
        if follow:
            self.scroll_to(y=self.max_scroll_y, animate=False)
        self._post_status()

    # -- search ---------------------------------------------------------------------------------

    def set_search(self, text: str) -> None:
        filtered = self._shown() is not None
        self.search_text = text
        self._pattern = compile_search(text)
        if filtered and self._pattern is None:
            self.matches = []
            self._reshape()  # the filter's pattern is gone: every line again
        self._cache.clear()
        self.refresh()
        self._recompute_matches()

    def _recompute_matches(self) -> None:
        self._search_gen += 1
        gen = self._search_gen
        pattern = self._pattern
        if pattern is None:
            self._set_matches(gen, [])
            return
        if len(self.lines) <= SYNC_SEARCH_LIMIT:
            self._set_matches(gen, _scan(self.lines, pattern))
            return
        lines = self.lines

        def work() -> None:
            found = _scan(lines, pattern)
            if not get_current_worker().is_cancelled:
                self.app.call_from_thread(self._set_matches, gen, found)

        self.run_worker(work, thread=True, exclusive=True, group="log-search", exit_on_error=False)

    def _set_matches(self, gen: int, matches: list[int]) -> None:
        if gen != self._search_gen:
            return  # a newer search or a new container replaced this one
        self.matches = matches
        if self.filter_mode:
            self._reshape()
        if self._pattern is not None and matches:
            # The first match at or below the top of the screen: nearest to where the user is.
            top, _ = self._row_to_line(round(self.scroll_y))
            k = bisect_left(matches, top)
            self._go_to_match(matches[k % len(matches)])
        else:
            self._set_current(None)
        self._post_status()

    def _set_current(self, i: int | None) -> None:
        if i == self.current:
            return
        for old in (self.current, i):
            if old is not None:
                for key in [k for k in self._cache.keys() if k[0] == old]:  # noqa: SIM118 - LRUCache has no __iter__
                    self._cache.discard(key)
        self.current = i
        self.refresh()

    def _go_to_match(self, i: int) -> None:
        self.follow = False
        self._set_current(i)
        row = self._line_to_row(i)
        height = self.scrollable_content_region.height
        if not (self.scroll_y <= row < self.scroll_y + height):
            self.scroll_to(y=max(0, row - height // 2), animate=False)
        self._post_status()

    def action_search(self) -> None:
        self.post_message(self.SearchRequested())

    def action_next_match(self) -> None:
        if not self.matches:
            return
        ref = (
            self.current
            if self.current is not None
            else self._row_to_line(round(self.scroll_y))[0] - 1
        )
        k = bisect_right(self.matches, ref)
        self._go_to_match(self.matches[k % len(self.matches)])

    def action_prev_match(self) -> None:
        if not self.matches:
            return
        ref = (
            self.current if self.current is not None else self._row_to_line(round(self.scroll_y))[0]
        )
        k = bisect_left(self.matches, ref) - 1
        self._go_to_match(self.matches[k % len(self.matches)])

    # -- other actions ------------------------------------------------------------------------------

    def action_toggle_all(self) -> None:
        self.post_message(self.AllRequested())

    def action_toggle_filter(self) -> None:
        self.filter_mode = not self.filter_mode

    def action_cycle_tail(self) -> None:
        self.post_message(self.WindowRequested("tail"))

    def action_cycle_since(self) -> None:
        self.post_message(self.WindowRequested("since"))

    def action_toggle_timestamps(self) -> None:
        self.show_timestamps = not self.show_timestamps

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_save(self) -> None:
        self.post_message(self.SaveRequested())

    def action_top(self) -> None:
        self.follow = False
        self.scroll_to(y=0, animate=False, immediate=True)
        self._want_older()

    def action_bottom(self) -> None:
        self.follow = True
        self.scroll_to(y=self.max_scroll_y, animate=False)

    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()
        self._want_older()

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()
        self._want_older()

    def action_scroll_home(self) -> None:
        self.action_top()

    def action_scroll_end(self) -> None:
        self.action_bottom()

    def on_mouse_scroll_up(self, event: MouseScrollUp) -> None:
        self.follow = False
        self._want_older()

    # -- status -------------------------------------------------------------------------------------

    def status(self) -> LogStatus:
        pos = None
        if self.current is not None and self.matches:
            k = bisect_left(self.matches, self.current)
            if k < len(self.matches) and self.matches[k] == self.current:
                pos = k + 1
        return LogStatus(
            len(self.lines),
            len(self.matches),
            pos,
            self.follow,
            self.wrap,
            self.show_timestamps,
            self.search_text,
            self.dropped,
            self.filter_mode,
            self.older,
            self.loading,
            self.newer_cut,
        )

    def _post_status(self) -> None:
        self.post_message(self.StatusChanged(self, self.status()))

    def text_of(self, timestamps: bool | None = None) -> str:
        """The whole log as text, for saving (with timestamps when they are shown)."""
        stamps = self.show_timestamps if timestamps is None else timestamps
        if stamps:
            return "".join(f"{line.time} {line.text}\n" for line in self.lines)
        return "".join(line.text + "\n" for line in self.lines)


def _scan(lines: list[LogLine], pattern: re.Pattern[str]) -> list[int]:
    search = pattern.search
    return [i for i, line in enumerate(lines) if search(line.text)]
