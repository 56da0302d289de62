"""Backend calls off the UI thread that report back through messages.

A job is one call (`call`, run in a thread worker) and what the screen does
with its outcome on the UI thread: `done` with the result, or an error
notice titled "<title> failed" (or `failed` with the text, for screens that
show errors in place); `then` runs after either outcome, usually to reload
the lists. The worker only posts JobDone or JobFailed to the screen
(post_message is thread-safe), so every outcome is handled in one place
and nothing is called across threads by hand.

A job holds a lease (tuidock/screens/leases.py) on the backend it calls, the
app's current one unless it names its own, from its start to its end: a
backend the switcher replaced meanwhile is closed when the job finishes.

Only `call` runs in the thread: `done`, `failed` and `then` may touch
widgets. An exception of `call` becomes its text through error_text (the
error's message and hint), or through the job's own `describe`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual import on
from textual.message import Message
from textual.screen import Screen

# Engine hints that name a CLI command or flag the UI has a key or a field for:
# (what the hint names, the key's binding ID or None, the advice for the UI).
# Hints naming commands the UI lacks (login, demo) stay as they are: a shell is
# where to run them.
UI_HINTS: tuple[tuple[str, str | None, str], ...] = (
    ("`tuidock pull`", "app.pull", "Press {key} to pull it."),
    ("`tuidock rm -f`", "list.delete", "Press {key} on it in the containers pane to remove it."),
    ("`tuidock network ls`", None, "Pick one of the listed networks."),
    ("leave out -p/-P", None, "Pick bridge or a user network, or clear the ports."),
    ("Give a command after the image name", None, "Fill in the command."),
)


def ui_hint(hint: str | None, keymap: dict[str, str] | None = None) -> str | None:
    """The engine's hint with CLI commands and flags replaced by the UI's keys
    (as remapped) and fields."""
    if not hint:
        return hint
    from tuidock.keymap import effective_keys, pretty_keys

    keys = effective_keys(keymap or {})
    for names, binding, advice in UI_HINTS:
        if names in hint:
            key = pretty_keys(keys[binding]).split(" / ")[0] if binding else ""
            return advice.format(key=key)
    return hint


def error_text(exc: BaseException, keymap: dict[str, str] | None = None) -> str:
    """What a notice or a dialog shows of an error: its message, then its hint for the UI."""
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    hint = ui_hint(getattr(exc, "hint", None), keymap)
    return f"{message}\n{hint}" if hint else message


@dataclass(eq=False)
class Job:
    title: str
    call: Callable[[], Any]
    done: Callable[[Any], object] | None = None
    then: Callable[[], object] | None = None
    failed: Callable[[str], object] | None = None
    describe: Callable[[BaseException], str] = error_text


class JobDone(Message, bubble=False):
    def __init__(self, job: Job, result: object) -> None:
        super().__init__()
        self.job = job
        self.result = result


class JobFailed(Message, bubble=False):
    def __init__(self, job: Job, text: str) -> None:
        super().__init__()
        self.job = job
        self.text = text


class JobScreen(Screen):
    """A screen that runs jobs (Textual finds `@on` handlers only on Screen subclasses)."""

    def run_job(
        self,
        title: str,
        call: Callable[[], Any],
        done: Callable[[Any], object] | None = None,
        then: Callable[[], object] | None = None,
        *,
        failed: Callable[[str], object] | None = None,
        describe: Callable[[BaseException], str] | None = None,
        group: str = "ops",
        exclusive: bool = False,
        backend: object | None = None,
    ) -> None:
        if describe is None:
            keymap = getattr(self.app, "user_keymap", None)  # hints name the user's keys

            def describe(exc: BaseException) -> str:
                return error_text(exc, keymap)

        job = Job(title, call, done, then, failed, describe)
        leases = getattr(self.app, "leases", None)
        held = backend if backend is not None else getattr(self.app, "backend", None)
        if leases is not None and held is not None:
            leases.acquire(held)

        def work() -> None:
            try:
                result = job.call()
            except Exception as exc:
                self.post_message(JobFailed(job, job.describe(exc)))
                return
            finally:
                if leases is not None and held is not None:
                    leases.release(held)
            self.post_message(JobDone(job, result))

        self.run_worker(
            work, name=title, group=group, exclusive=exclusive, thread=True, exit_on_error=False
        )

    @on(JobDone)
    def _job_done(self, message: JobDone) -> None:
        job = message.job
        try:
            if job.done is not None:
                job.done(message.result)
        finally:
            if job.then is not None:
                job.then()

    @on(JobFailed)
    def _job_failed(self, message: JobFailed) -> None:
        job = message.job
        if job.failed is not None:
            job.failed(message.text)
        else:
            self.notify(message.text, severity="error", title=f"{job.title} failed")
        if job.then is not None:
            job.then()
