"""The one-line header: which engine this is (context, endpoint, cgroups) and what it holds.

While the engine does not answer, the header turns red and says why (and
that the app retries); it goes back to normal by itself when it answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static


@dataclass(frozen=True)
class EngineFacts:
    root: str
    cgroup: str = "?"
    images: int = 0
    containers: int = 0
    running: int = 0
    mouse: bool = True
    context: str = "local"
    engine: str = "engine"  # "engine": tuidock's own at `root`; "endpoint": a Docker API
    down: str = ""  # why the engine does not answer; "" while it does


class EngineHeader(Static):
    DEFAULT_CSS = """
    EngineHeader { dock: top; height: 1; background: $panel; color: $foreground; padding: 0 1; }
    EngineHeader.-down { background: $error; color: $text; text-style: bold; }
    """

    def __init__(self, facts: EngineFacts, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.facts = facts

    def on_mount(self) -> None:
        self._show()

    def set_facts(self, facts: EngineFacts) -> None:
        if facts != self.facts:
            self.facts = facts
            self._show()

    def _show(self) -> None:
        f = self.facts
        text = Text()
        text.append("tuidock", style="bold")
        text.append(f"  ctx {f.context}", style="bold")
        text.append(f"  {f.engine} {f.root}")
        if f.down:
            text.append(f"  unreachable: {f.down} (retrying)")
            self.set_class(True, "-down")
            self.update(text, layout=False)
            return
        self.set_class(False, "-down")
        text.append(f"  cgroups {f.cgroup}  ")
        text.append(f"images {f.images}  containers {f.running}/{f.containers} running")
        if not f.mouse:
            text.append("  mouse off", style="italic")
        # One row, as wide as the screen whatever it says: a repaint, no relayout.
        self.update(text, layout=False)
