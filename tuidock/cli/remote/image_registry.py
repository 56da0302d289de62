"""pull and push on a Docker/Podman engine: the engine talks to the registry,
this prints its progress as the docker CLI does (a live view per layer on a
terminal, one line per layer state otherwise) and its last lines.

login and logout are the client's (cli/main.py's CLIENT_ONLY) and never come here.
"""

from __future__ import annotations

import argparse
import sys
import threading

from tuidock.cli.commands.image_registry import announce_default_tag, print_pull_end
from tuidock.cli.remote._shared import daemon_words
from tuidock.errors import TuidockError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend


@daemon_words
def cmd_pull(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.core import reference as refmod

    ref = refmod.parse(args.image)
    progress = None
    if not args.quiet:
        from tuidock.cli.progress import LiveProgress, PlainProgress

        announce_default_tag(args.image)
        progress = _Held(LiveProgress() if sys.stdout.isatty() else PlainProgress())
    try:
        outcome = backend.pull(
            args.image, args.platform, progress or (lambda ev: None), threading.Event()
        )
    finally:
        if progress is not None:
            progress.close()
    if args.quiet:
        print(str(ref))  # docker pull -q prints the reference, not the ID
        return 0
    print_pull_end(ref, outcome.downloaded)
    return 0


class _Held:
    """A pull's progress view that shows the "Pulling from" line only once the
    engine answers with layers or a digest: a missing tag or a refused registry
    is then the error alone, as the docker CLI shows it."""

    def __init__(self, view) -> None:
        self.view = view
        self.held: list = []
        self.answered = False

    def __call__(self, ev) -> None:
        if not self.answered and ev.kind == "status" and "Pulling from" in ev.status:
            self.held.append(ev)
            return
        if not self.answered:
            self.answered = True
            for held in self.held:
                self.view(held)
        self.view(ev)

    def close(self) -> None:
        self.view.close()


@daemon_words
def cmd_push(args: argparse.Namespace, backend: DockerBackend) -> int:
    from docker.utils import parse_repository_tag

    from tuidock.core import reference as refmod

    if args.tls_verify is not None:
        raise UsageError(
            "--tls-verify is for tuidock's own engine",
            f"The engine at {backend.location} uses its own registry settings.",
        )
    if args.destination:
        backend.tag(args.image, args.destination)
    target = args.destination or args.image
    repo, tag = parse_repository_tag(target)
    if not args.all_tags:
        tag = tag or "latest"
    elif tag:
        raise UsageError("tag can't be used with --all-tags/-a")
    progress = None
    if not args.quiet:
        from tuidock.cli.pushprogress import LivePushProgress, PlainPushProgress

        if not args.all_tags and ":" not in target.rsplit("/", 1)[-1]:
            print("Using default tag: latest")
        progress = LivePushProgress() if sys.stdout.isatty() else PlainPushProgress()
    from tuidock.backends.docker import api_errors

    try:
        with api_errors(backend.location):
            for ev in backend.api().push(repo, tag or None, stream=True, decode=True):
                if ev.get("error"):
                    raise TuidockError(" ".join(str(ev["error"]).split()))
                shown = _push_event(ev)
                if progress is not None and shown is not None:
                    progress(shown)
    finally:
        if progress is not None:
            progress.close()
    if args.quiet:
        print(refmod.parse(target).familiar() if not args.all_tags else repo)
    return 0


def _push_event(ev: dict):
    """A push message as the progress views take it: a layer's state, or a line."""
    from tuidock.backends.base import PullEvent

    status = str(ev.get("status") or "")
    if not status:
        return None  # the aux message (the digest), already said in a status line
    detail = ev.get("progressDetail")
    # Layer states come with a progressDetail (maybe empty); "<tag>: digest: ..." does not.
    if ev.get("id") and detail is not None:
        return PullEvent(
            "layer",
            str(ev["id"]),
            status,
            int(detail.get("current") or 0),
            int(detail.get("total") or 0),
        )
    return PullEvent("status", status=f"{ev['id']}: {status}" if ev.get("id") else status)
