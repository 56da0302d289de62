"""The volumes pane's table: DRIVER, NAME, the containers that mount each, MOUNTPOINT.

Sizes are not listed: they take a walk of every volume's files (the disk
view, `6`, shows their total, and a prune's confirm adds up the unused
ones). Rows are keyed by the volume's name, which is what every verb takes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from tuidock.keymap import bind
from tuidock.widgets.resourcetable import ResourceTable, Row

if TYPE_CHECKING:
    from tuidock.backends.base import VolumeSummary


def users_text(names: tuple[str, ...], most: int = 3) -> str:
    """ "a, b, c +2" for a list column."""
    shown = ", ".join(names[:most])
    return shown + (f" +{len(names) - most}" if len(names) > most else "")


def volume_rows(records: list[VolumeSummary]) -> list[Row]:
    rows = []
    for rec in records:
        used = Text(users_text(rec.containers), style="green") if rec.containers else "-"
        cells = (rec.driver, rec.name, used, rec.mountpoint)
        search = " ".join([rec.driver, rec.name, *rec.containers, rec.mountpoint])
        keys = (rec.driver, rec.name.casefold(), len(rec.containers), rec.mountpoint)
        rows.append(Row(rec.name, cells, search, keys))
    return rows


class VolumesTable(ResourceTable):
    BINDINGS = [  # noqa: RUF012 - run on the screen, which owns the engine calls
        bind("resources.create", "screen.create_volume"),
        bind("resources.prune", "screen.prune('volumes')"),
    ]

    COLUMNS = (
        ("driver", "DRIVER", 8),
        ("name", "VOLUME NAME", None),
        ("users", "CONTAINERS", None),
        ("mountpoint", "MOUNTPOINT", None),
    )
    PRIORITY = ("name", "users", "driver", "mountpoint")
    ESSENTIAL = 1
