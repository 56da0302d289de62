"""A one-line history chart on a fixed scale.

Textual's Sparkline scales between the data's own min and max, so a steady
0.1% CPU draws as a full bar; here the scale is fixed (0..ceiling, e.g.
100%), so the height of a bar means the same thing from one tick to the next.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

BLOCKS = " ▁▂▃▄▅▆▇█"


def bars(values: Sequence[float], width: int, ceiling: float) -> str:
    shown = list(values)[-width:] if width > 0 else []
    top = max(ceiling, max(shown, default=0.0)) or 1.0
    out = []
    for v in shown:
        level = round(max(0.0, v) / top * (len(BLOCKS) - 1))
        if v > 0 and level == 0:
            level = 1  # any activity at all is visible
        out.append(BLOCKS[level])
    return "".join(out).rjust(width)


class Spark(Widget):
    DEFAULT_CSS = """
    Spark { height: 1; width: 1fr; color: $success; }
    """
    data: reactive[tuple[float, ...]] = reactive(tuple)

    def __init__(self, ceiling: float = 100.0, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.ceiling = ceiling

    def render(self) -> Text:
        return Text(bars(self.data, self.size.width, self.ceiling))
