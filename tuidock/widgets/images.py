"""The images pane's table: one row per tag, as `tuidock images` lists them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from tuidock.core.humanize import human_size, parse_time, since
from tuidock.core.reference import familiar_tag, looks_like_id, parse
from tuidock.errors import TuidockError
from tuidock.keymap import bind
from tuidock.widgets.resourcetable import ResourceTable, Row

if TYPE_CHECKING:
    from tuidock.backends.base import ContainerSummary, ImageSummary

DANGLING = "<none>"


def image_rows(records: list[ImageSummary], now: float | None = None) -> list[Row]:
    """Rows keyed "<id>|<full tag>" (or "<id>|" for a dangling image).

    The key doubles as what `rmi` needs: the tag removes that name only (the
    image goes with its last tag), the ID removes an untagged image.
    """
    rows = []
    for rec in records:
        created = since(rec.created, now) if rec.created else ""
        created_at = parse_time(rec.created) or 0.0
        size = human_size(rec.size)
        for tag in rec.repo_tags or [""]:
            repo = name = ""
            if tag:
                familiar = familiar_tag(tag)
                repo, _, name = familiar.rpartition(":")
                cells: tuple = (repo, name, rec.short_id, created, size)
            else:
                cells = (
                    Text(DANGLING, style="yellow"),
                    Text(DANGLING + " (dangling)", style="yellow"),
                    rec.short_id,
                    created,
                    size,
                )
            plain = " ".join(c.plain if isinstance(c, Text) else c for c in cells)
            # Dangling images ("" repo) sort first ascending, as the rows' text would.
            keys = (repo, name, rec.short_id, created_at, rec.size)
            rows.append(Row(f"{rec.id}|{tag}", cells, plain, keys))
    return rows


def removal_name(key: str) -> str:
    """What to pass to Backend.remove_images for a row key."""
    image_id, _, tag = key.partition("|")
    return tag or image_id


def label(key: str) -> str:
    """A row as the user knows it, for dialogs and notifications."""
    image_id, _, tag = key.partition("|")
    return familiar_tag(tag) if tag else image_id.removeprefix("sha256:")[:12]


def uses_image(info: ContainerSummary, record: ImageSummary) -> bool:
    """Whether a container was made from the image: its image as given is one of
    the image's tags or a prefix of its ID (the listing carries no image ID)."""
    given = info.image
    if looks_like_id(given):
        return record.id.removeprefix("sha256:").startswith(given.removeprefix("sha256:"))
    try:
        return str(parse(given)) in record.repo_tags
    except TuidockError:
        return False


def users_of(record: ImageSummary, infos: list[ContainerSummary]) -> list[ContainerSummary]:
    return [info for info in infos if uses_image(info, record)]


def short_repository(cell: str | Text) -> str | Text:
    """A repository without its registry host, for a pane too narrow for it:
    "127.0.0.1:5000/team/app" -> "…/team/app". Cut at the right, every image of
    one registry showed the same host prefix and no name."""
    if not isinstance(cell, str):
        return cell  # <none>
    host, sep, path = cell.partition("/")
    if sep and ("." in host or ":" in host or host == "localhost"):
        return "…/" + path
    return cell


class ImagesTable(ResourceTable):
    BINDINGS = [  # noqa: RUF012 - run on the screen, which owns the engine calls
        bind("images.build", "screen.build"),
    ]

    COLUMNS = (
        ("repo", "REPOSITORY", None),
        ("tag", "TAG", None),
        ("id", "IMAGE ID", 12),
        ("created", "CREATED", 14),
        ("size", "SIZE", 8),
    )
    PRIORITY = ("repo", "tag", "size", "id", "created")
    ESSENTIAL = 3
    MIN_WIDTH = {"repo": 12, "tag": 6}  # noqa: RUF012
    SHORT = {"repo": short_repository}  # noqa: RUF012

    def copy_text(self, key: str) -> str:
        return key.partition("|")[0]

    @property
    def current_image(self) -> str | None:
        """The selected row's name for `run` (tag, or ID when dangling)."""
        key = self.current_key
        return removal_name(key) if key else None
