"""Showing a push's progress: Docker's lines, or pull's live view with push states."""

from __future__ import annotations

from typing import ClassVar

from tuidock.cli.progress import LiveProgress, PlainProgress


class PlainPushProgress(PlainProgress):
    """`docker push` off a terminal: Preparing, then how each layer got there."""

    labels: ClassVar[dict[str, str]] = {}
    skip: ClassVar[frozenset[str]] = frozenset({"Pushing"})


class LivePushProgress(LiveProgress):
    moving = "Pushing"

    def has_bar(self, status: str) -> bool:
        return status == "Pushing"
