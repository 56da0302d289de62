"""The key footer: the screen's shown bindings as one line of text.

Textual's Footer recomposes on every change of the active bindings: each
focus switch (1/2/3, tab, opening a filter) removed and mounted a widget per
key, and each new key restyled itself (its `compact` class set from a data
binding), a full CSS pass over two dozen nodes plus a screen relayout. During
a log flood that was most of a keypress's time on the UI thread.

This footer is one widget without children. On a bindings change it reads
the screen's active bindings once per frame (the change signal fires several
times per key) into a tuple of shown keys; when that tuple is the one shown
already nothing happens, else one repaint renders the line. No class is
toggled and nothing is mounted, so no restyle and no relayout follow.

The look is Textual's Footer (same theme variables, key " k " then
"description ", the command palette key at the right after a thin rule);
clicking a key presses it and hovering highlights it, as there. `renders`
and `changes` count the work, for the tests.
"""

from __future__ import annotations

from typing import NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widget import Widget

PALETTE_RULE = "▏"  # the `vkey` border left of the palette key


class ShownKey(NamedTuple):
    key: str  # the key pressed when the entry is clicked
    display: str  # as shown ("^p", "space")
    description: str
    enabled: bool


class KeyFooter(Widget):
    COMPONENT_CLASSES = {  # noqa: RUF012
        "keyfooter--key",
        "keyfooter--description",
        "keyfooter--hover",
        "keyfooter--rule",
    }
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
    }
    KeyFooter > .keyfooter--key {
        color: $footer-key-foreground;
        background: $footer-key-background;
        text-style: bold;
    }
    KeyFooter > .keyfooter--description {
        color: $footer-description-foreground;
        background: $footer-description-background;
    }
    KeyFooter > .keyfooter--hover {
        color: $footer-key-foreground;
        background: $block-hover-background;
    }
    KeyFooter > .keyfooter--rule { color: $foreground 20%; }
    """
    ALLOW_SELECT = False

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.keys: tuple[ShownKey, ...] = ()
        self.palette: ShownKey | None = None
        self._spans: list[tuple[int, int, ShownKey]] = []  # cells of each entry, for the mouse
        self._hover: ShownKey | None = None  # the entry under the mouse
        self._pending = False
        self.renders = 0  # lines rendered
        self.changes = 0  # bindings changes that changed what is shown

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)
        self._read_bindings()

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        # A screen being replaced still signals while its widgets detach.
        if self._pending or not self.is_attached or screen is not self.screen:
            return
        self._pending = True  # one read per frame, however often the signal fires
        self.call_after_refresh(self._read_bindings)

    def _read_bindings(self) -> None:
        self._pending = False
        if not self.is_attached:
            return
        active = self.screen.active_bindings
        seen: dict[str, ShownKey] = {}
        app = self.app
        for _node, binding, enabled, _tooltip in active.values():
            if binding.show and binding.action not in seen:  # one entry per action, as Footer
                seen[binding.action] = ShownKey(
                    binding.key, app.get_key_display(binding), binding.description, enabled
                )
        palette = None
        if app.ENABLE_COMMAND_PALETTE and app.COMMAND_PALETTE_BINDING in active:
            _node, binding, enabled, _tooltip = active[app.COMMAND_PALETTE_BINDING]
            palette = ShownKey(
                binding.key, app.get_key_display(binding), binding.description, enabled
            )
            seen.pop(binding.action, None)
        keys = tuple(seen.values())
        if keys != self.keys or palette != self.palette:
            self.keys, self.palette = keys, palette
            self._hover = None
            self.changes += 1
            self.refresh()

    # -- rendering ------------------------------------------------------------------------

    def _entry(self, text: Text, shown: ShownKey, compact: bool) -> tuple[int, int, ShownKey]:
        key_style = self.get_component_rich_style("keyfooter--key")
        desc_style = self.get_component_rich_style("keyfooter--description")
        if shown == self._hover:
            over = self.get_component_rich_style("keyfooter--hover")
            key_style, desc_style = key_style + over, desc_style + over
        if not shown.enabled:
            key_style, desc_style = key_style + Style(dim=True), desc_style + Style(dim=True)
        start = text.cell_len
        if compact:  # the palette key: no padding around the key, one before the description
            text.append(shown.display, key_style)
            if shown.description:
                text.append(" " + shown.description, desc_style)
        else:
            text.append(f" {shown.display} ", key_style)
            if shown.description:
                text.append(f"{shown.description} ", desc_style)
        return start, text.cell_len, shown

    def render(self) -> Text:
        self.renders += 1
        line = Text(no_wrap=True, overflow="crop", end="")
        spans = [self._entry(line, shown, compact=False) for shown in self.keys]
        if self.palette is not None:
            right = Text(PALETTE_RULE, self.get_component_rich_style("keyfooter--rule"), end="")
            start, end, shown = self._entry(right, self.palette, compact=True)
            right.append(" ")
            at = max(0, self.size.width - right.cell_len)
            # Keys that do not fit end under the palette key, as in Textual's Footer.
            line.truncate(at, pad=True)
            spans = [(a, min(b, at), s) for a, b, s in spans if a < at]
            spans.append((start + at, end + at, shown))
            line.append_text(right)
        self._spans = spans
        return line

    # -- mouse ---------------------------------------------------------------------------

    def _entry_at(self, x: int) -> ShownKey | None:
        return next((shown for start, end, shown in self._spans if start <= x < end), None)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._set_hover(self._entry_at(event.x))

    def on_leave(self, _event: events.Leave) -> None:
        self._set_hover(None)

    def _set_hover(self, shown: ShownKey | None) -> None:
        if shown != self._hover:
            self._hover = shown
            self.refresh()

    def on_click(self, event: events.Click) -> None:
        shown = self._entry_at(event.x)
        if shown is None:
            return
        if shown.enabled:
            self.app.simulate_key(shown.key)
        else:
            self.app.bell()
