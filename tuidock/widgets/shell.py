"""The shell pane: terminal sessions as tabs next to the logs, per container an
exec session (a shell, `e`) and an attach session (its main process, `a`;
the backend's `attach_command`, backends/attachrelay.py).

The emulator is textual-tty 0.4 (bittty), pinned and wrapped here so the
rest of the UI never touches it. We start the child ourselves instead of
bittty's `spawn_process`, which uses `preexec_fn` (unsafe in a threaded
process such as a Textual app): `setsid -c` makes the PTY the child's
controlling terminal after a plain fork+exec done in C by subprocess, so
resizes reach the program as SIGWINCH and Ctrl-C as SIGINT.

Leaving a session (a priority key, since the terminal takes every other
key) only moves the focus; the process goes on until it exits, and then its
tab closes.

Cost: the emulator parses every byte in Python (about 5 us a line), which
made a flood such as `seq 1 100000` take seconds, though all but the last
screenful scrolls off unseen and the board keeps no scrollback. `feed`
therefore only queues what the PTY gives; each repaint tick first parses
the queue as one chunk, less its plain-text lines that scroll off before
that frame (`unseen_lines_cut`): the screen that follows is the same, cell
for cell, and the parser sees about a screenful per frame of a flood. The
reader drains the PTY meanwhile, so the child is not held up by parsing.
Replies to terminal queries (DA, DSR) leave at the next tick, within 33 ms.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

from textual import events
from textual.message import Message

from tuidock.keymap import bind

if TYPE_CHECKING:
    from textual.widgets import TabbedContent

try:
    from bittty import TerminalCaps
    from bittty.pty.unix import UnixPTY
    from textual_tty import Terminal

    EMBEDDING_ERROR: str | None = None
except Exception as exc:  # textual-tty missing or broken: the full-screen route still works
    EMBEDDING_ERROR = f"embedded terminal unavailable: {exc}"
    Terminal = object  # type: ignore[assignment,misc]
    UnixPTY = object  # type: ignore[assignment,misc]

# A chunk's head of plain text: printable ASCII, CR, LF. Anything else (escape
# sequences, BEL, TAB, BS, SI/SO, C1, non-ASCII) ends the part that may be cut.
NOT_PLAIN = re.compile(r"[^\x20-\x7e\r\n]")


def unseen_lines_cut(data: str, height: int) -> str:
    """`data` without the plain-text lines that scroll off a `height`-row screen
    that has no scroll margins, no scrollback and a parser in its ground state.

    Kept: the text from the `height`-th last CRLF of the chunk's plain head on,
    so everything before it has scrolled off once that text is drawn. In its
    place come `height` CRLFs (the cursor ends on the bottom row at column 0,
    with every earlier row scrolled away, as it would after the cut text) and
    first the cut text's last printable character, which REP (CSI b) repeats.
    A chunk with fewer than 2 x `height` lines in its plain head is unchanged.
    """
    found = NOT_PLAIN.search(data)
    plain_end = found.start() if found else len(data)
    if height <= 0 or data.count("\r\n", 0, plain_end) < 2 * height:
        return data
    keep = plain_end
    for _ in range(height):
        keep = data.rfind("\r\n", 0, keep)
    last = data[:keep].rstrip("\r\n")[-1:]
    return last + "\r\n" * height + data[keep:]


# Repaints of a terminal are batched per tick; 30 Hz is smooth for a shell
# and halves the idle wakeups of textual-tty's 60 Hz.
TICK = 1 / 30
# Output queued past this is parsed at once, so a tick's work stays bounded.
QUEUE_LIMIT = 1 << 20


def with_ctty(command: list[str]) -> list[str]:
    """`command` run as a session leader whose controlling terminal is its stdin."""
    setsid = shutil.which("setsid")
    if setsid:
        return [setsid, "-c", *command]
    trampoline = (
        "import fcntl,os,sys,termios;os.setsid();fcntl.ioctl(0,termios.TIOCSCTTY,0);"
        "os.execvp(sys.argv[1],sys.argv[1:])"
    )
    return [sys.executable, "-c", trampoline, *command]


class ThreadSafePTY(UnixPTY):  # type: ignore[misc,valid-type]
    def spawn_process(self, command, env=None):  # type: ignore[no-untyped-def]
        process = subprocess.Popen(
            with_ctty(list(command)),
            stdin=self.slave_fd,
            stdout=self.slave_fd,
            stderr=self.slave_fd,
            env=env,
            close_fds=True,
        )
        os.close(self.slave_fd)
        self.slave_fd = None
        self._process = process
        return process


class ShellTerminal(Terminal):  # type: ignore[misc,valid-type]
    """One session: a terminal widget running `command` in its own PTY."""

    BINDINGS = [bind("shell.leave", "leave", priority=True)]  # noqa: RUF012

    class Leave(Message):
        def __init__(self, terminal: ShellTerminal) -> None:
            self.terminal = terminal
            super().__init__()

        @property
        def control(self) -> ShellTerminal:
            return self.terminal

    def __init__(
        self,
        command: list[str],
        cid: str,
        label: str,
        *,
        kind: str = "shell",
        id: str | None = None,
    ) -> None:
        super().__init__(command=command, id=id)
        self.cid = cid
        self.label = label
        self.kind = kind  # "shell" (an exec) or "attach" (the main process)
        self.exit_code: int | None = None
        self._queue: list[str] = []
        self._queued = 0

    async def on_mount(self, event: events.Mount) -> None:
        # Our own start instead of Terminal/Monitor.on_mount: a thread-safe spawn,
        # and a slower repaint tick. The child starts on the first Resize, once the
        # pane's size is known: a PTY opened here would be the board's 80x24
        # default, and the program would draw for that until a later resize.
        event.prevent_default()
        self._chrome.set_caps(
            TerminalCaps(color_depth="truecolor", background=self.background_colors[1].rgb)
        )
        self.board.set_pty_data_callback(self.feed)
        self._spawned = False
        if self.size.width and self.size.height:
            self._spawn(self.size.width, self.size.height)
        self.set_interval(TICK, self._tick)
        self.set_interval(0.5, self._blink)

    def on_resize(self, event: events.Resize) -> None:
        self.flush_output()  # output queued so far was written for the old size
        super().on_resize(event)
        if not self._spawned and event.size.width and event.size.height:
            self._spawn(event.size.width, event.size.height)

    def _spawn(self, width: int, height: int) -> None:
        self._spawned = True
        board = self.board
        board.resize(width, height)
        env = {**os.environ, "TERM": "xterm-256color"}
        pty = ThreadSafePTY(height, width)
        board.pty = pty
        try:
            board.process = pty.spawn_process(board.command, env)
        except OSError:
            pty.close()
            board.pty = None
            raise
        board.host.connect(
            pty, board._dispatch_pty_data, on_idle=board._pty_idle, on_closed=board.stop_process
        )
        self._process = board.process

    def feed(self, data: str) -> None:
        """Queues the child's output for the next tick (see the module docstring)."""
        self._queue.append(data)
        self._queued += len(data)
        if self._queued > QUEUE_LIMIT:
            self.flush_output()

    def flush_output(self) -> None:
        """Parses the queued output into the board."""
        if not self._queue:
            return
        data = "".join(self._queue)
        self._queue.clear()
        self._queued = 0
        board = self.board
        blitter = board.blitter
        parser = board.parser
        if (
            parser.mode is None
            and not parser.buffer
            and blitter.scroll_top == 0
            and blitter.scroll_bottom == board.height - 1
            and blitter.left_margin == 0
            and blitter.right_margin == board.width - 1
        ):
            data = unseen_lines_cut(data, board.height)
        super().feed(data)

    def _tick(self) -> None:
        self.flush_output()
        super()._tick()

    def action_leave(self) -> None:
        self.post_message(self.Leave(self))

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """Every key goes to the program (the app's check_action sends even its
        priority keys here); only this widget's own leave key is not consumed.
        Textual drops the ancestors' bindings of consumed keys from the active
        ones, so the footer lists what works here, not the pane keys ("1", "q")
        that the shell receives as typed text."""
        return True

    def screen_lines(self) -> list[str]:
        """The text on the terminal's screen, one string per row (for tests and notices)."""
        self.flush_output()
        page = self.board.blitter.current_buffer
        return [page.get_line_text(y).rstrip() for y in range(page.height)]

    def terminate(self) -> None:
        """Hang up the session (closing the PTY sends SIGHUP to its process group)."""
        self.board.stop_process()


class ShellTabs:
    """Shell sessions as tabs of the bottom TabbedContent: per container at most
    one exec session ("shell", keyed by the container ID) and one attach session
    ("attach", keyed `attach:ID`), each in a tab of its own."""

    TITLES = {"shell": "$ {}", "attach": "attach {}"}  # noqa: RUF012

    def __init__(self, tabs: TabbedContent) -> None:
        self.tabs = tabs
        self.sessions: dict[str, ShellTerminal] = {}

    @staticmethod
    def key(cid: str, kind: str = "shell") -> str:
        return cid if kind == "shell" else f"{kind}:{cid}"

    @staticmethod
    def pane_id(cid: str, kind: str = "shell") -> str:
        return f"{kind}-{cid[:12]}"

    def get(self, cid: str, kind: str = "shell") -> ShellTerminal | None:
        return self.sessions.get(self.key(cid, kind))

    async def open(
        self, cid: str, label: str, command: list[str], kind: str = "shell"
    ) -> ShellTerminal:
        from textual.widgets import TabPane

        term_id = f"term-{cid[:12]}" if kind == "shell" else f"term-{kind}-{cid[:12]}"
        term = ShellTerminal(command, cid, label, kind=kind, id=term_id)
        pane = TabPane(self.TITLES[kind].format(label), term, id=self.pane_id(cid, kind))
        await self.tabs.add_pane(pane)
        self.sessions[self.key(cid, kind)] = term
        self.show(cid, kind)
        return term

    def show(self, cid: str, kind: str = "shell") -> None:
        term = self.sessions[self.key(cid, kind)]
        self.tabs.active = self.pane_id(cid, kind)
        term.focus()

    async def close(self, cid: str, kind: str = "shell") -> None:
        term = self.sessions.pop(self.key(cid, kind), None)
        if term is None:
            return
        await self.tabs.remove_pane(self.pane_id(cid, kind))
