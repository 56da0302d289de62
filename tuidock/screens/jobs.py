"""Backend calls off the UI thread that report back through messages.

A job is one call (`call`, run in a thread worker) and what the screen does
with its outcome on the UI thread: `done` with the result, or an error
notice titled "<title> failed" (or `failed` with the text, for screens that
show errors in place); `then` runs after either outcome, usually to reload
the lists. The worker only posts JobDone or JobFailed to the screen
(post_message is thread-safe), so every outcome is handled in one place
and nothing is called across threads by hand.

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


def error_text(exc: BaseException) -> str:
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    hint = getattr(exc, "hint", None)
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
        describe: Callable[[BaseException], str] = error_text,
        group: str = "ops",
        exclusive: bool = False,
    ) -> None:
        job = Job(title, call, done, then, failed, describe)

        def work() -> None:
            try:
                result = job.call()
            except Exception as exc:
                self.post_message(JobFailed(job, job.describe(exc)))
                return
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
