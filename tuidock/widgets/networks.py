"""The networks pane's table: ID, NAME, DRIVER, SUBNET and the attached containers.

Rows are keyed by the network's name (what connect, disconnect and rm take).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text

from tuidock.keymap import bind
from tuidock.widgets.resourcetable import ResourceTable, Row
from tuidock.widgets.volumes import users_text

if TYPE_CHECKING:
    from tuidock.backends.base import NetworkSummary

# The engines' own networks: they cannot be removed, and a prune keeps them.
DEFAULT_NETWORKS = frozenset({"bridge", "podman", "host", "none"})


def network_rows(records: list[NetworkSummary]) -> list[Row]:
    rows = []
    for rec in records:
        used = Text(users_text(rec.containers), style="green") if rec.containers else "-"
        cells = (rec.short_id, rec.name, rec.driver, rec.subnet, used)
        search = " ".join([rec.short_id, rec.name, rec.driver, rec.subnet, *rec.containers])
        keys = (rec.short_id, rec.name.casefold(), rec.driver, rec.subnet, len(rec.containers))
        rows.append(Row(rec.name, cells, search, keys))
    return rows


class NetworksTable(ResourceTable):
    BINDINGS = [  # noqa: RUF012 - run on the screen, which owns the engine calls
        bind("resources.create", "screen.create_network"),
        bind("resources.prune", "screen.prune('networks')"),
        bind("networks.connect", "screen.connect_network"),
        bind("networks.disconnect", "screen.disconnect_network"),
    ]

    COLUMNS = (
        ("id", "NETWORK ID", 12),
        ("name", "NAME", None),
        ("driver", "DRIVER", 8),
        ("subnet", "SUBNET", None),
        ("users", "CONTAINERS", None),
    )
    PRIORITY = ("name", "users", "subnet", "driver", "id")
    ESSENTIAL = 1
