"""The disk view: `system df` as a table, one row per kind of object.

Rows are keyed by the kind a prune takes ("images", "containers",
"volumes"; the build cache row by "build-cache", which has no prune of its
own in the UI), so `P` on a row prunes what it counts.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from tuidock.core.humanize import human_size
from tuidock.keymap import bind
from tuidock.widgets.resourcetable import ResourceTable, Row

if TYPE_CHECKING:
    from tuidock.backends.base import DiskUsageRow

KIND_OF = {
    "Images": "images",
    "Containers": "containers",
    "Local Volumes": "volumes",
    "Build Cache": "build-cache",
}


def disk_rows(rows: list[DiskUsageRow]) -> list[Row]:
    out = []
    for r in rows:
        pct = f" ({r.reclaimable * 100 // r.size}%)" if r.size else ""
        cells = (
            r.type,
            str(r.total),
            str(r.active),
            human_size(r.size),
            human_size(r.reclaimable) + pct,
        )
        keys = (r.type, r.total, r.active, r.size, r.reclaimable)
        out.append(Row(KIND_OF.get(r.type, r.type), cells, " ".join(cells), keys))
    return out


class DiskTable(ResourceTable):
    BINDINGS = [  # noqa: RUF012 - run on the screen, which owns the engine calls
        bind("resources.prune", "screen.prune_row"),
    ]

    COLUMNS = (
        ("type", "TYPE", 14),
        ("total", "TOTAL", 6),
        ("active", "ACTIVE", 6),
        ("size", "SIZE", 10),
        ("reclaimable", "RECLAIMABLE", 16),
    )
    ESSENTIAL = 5
