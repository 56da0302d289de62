"""The volumes, networks and disk-use panes: their lists and verbs on the main screen.

A layer between Verbs and MainScreen. These lists are not polled: they are
read when their tab is shown (4, 5, 6), after every verb that changes them,
and on ctrl+r, so an idle dashboard pays nothing for them (the disk view's
df walks every container's and volume's files). Every engine call is a job
(screens.jobs); errors are a notice with the engine's message and hint.

Refusals the UI can see coming are said before anything is asked: a
volume a container mounts is not offered for removal (its users named)
unless the engine's force takes it, and then the confirm says which
containers go with it. A prune shows its dry run (pruneplan) in the
confirm, then the engine's reclaimed total.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from textual import on
from textual.widgets import TabbedContent

from tuidock.core.humanize import human_size
from tuidock.screens import pruneplan
from tuidock.screens.confirm import ConfirmScreen
from tuidock.screens.menu import ActionMenu, Verb
from tuidock.screens.verbs import Verbs
from tuidock.widgets.diskuse import DiskTable, disk_rows
from tuidock.widgets.networks import DEFAULT_NETWORKS, NetworksTable, network_rows
from tuidock.widgets.resourcetable import ResourceTable
from tuidock.widgets.volumes import VolumesTable, users_text, volume_rows

if TYPE_CHECKING:
    from tuidock.backends.base import (
        DiskUsage,
        NetworkSummary,
        PruneOutcome,
        VolumeSummary,
    )

TABS = {"volumes": "tab-volumes", "networks": "tab-networks", "disk": "tab-disk"}


def volume_verbs(vol: VolumeSummary) -> list[Verb]:
    return [
        Verb("inspect", "Inspect", "i"),
        Verb("create", "Create a volume…", "n"),
        Verb("copy", "Copy the name", "y"),
        Verb("remove", "Remove…", "d", danger=True),
        Verb("prune", "Prune unused volumes…", "P", danger=True),
    ]


def network_verbs(net: NetworkSummary) -> list[Verb]:
    verbs = [
        Verb("inspect", "Inspect", "i"),
        Verb("connect", "Connect a container…", "C"),
    ]
    if net.containers:
        verbs.append(Verb("disconnect", "Disconnect a container…", "D"))
    verbs += [
        Verb("create", "Create a network…", "n"),
        Verb("copy", "Copy the name", "y"),
        Verb("remove", "Remove…", "d", danger=True),
        Verb("prune", "Prune unused networks…", "P", danger=True),
    ]
    return verbs


class Resources(Verbs):
    volumes: dict[str, VolumeSummary]
    networks: dict[str, NetworkSummary]
    # Whether the backend's forced removal takes a volume in use (Podman's):
    # read with the list, in the worker, as it may cost a request.
    _volume_force = False

    def _init_resources(self) -> None:
        self.volumes = {}
        self.networks = {}
        self.disk_loads = 0  # for tests

    # -- tabs ------------------------------------------------------------------------

    def action_focus_tab(self, which: str) -> None:
        self.query_one("#bottom", TabbedContent).active = TABS[which]
        self.query_one(f"#{which}", ResourceTable).focus()
        self._load_tab(which)

    @on(TabbedContent.TabActivated, "#bottom")
    def _tab_shown(self, event: TabbedContent.TabActivated) -> None:
        for which, tab in TABS.items():
            if event.pane.id == tab:
                self._load_tab(which)

    def _load_tab(self, which: str) -> None:
        if which == "disk":
            self.reload_disk()
        else:
            self.reload_resources()

    def reload_resources(self) -> None:
        backend = self.app.backend

        def load() -> tuple[list[VolumeSummary], list[NetworkSummary], bool]:
            return (
                backend.list_volumes(),
                backend.list_networks(),
                backend.force_removes_volume_users,
            )

        self.run_job("Volumes and networks", load, self._show_resources, group="resources")

    def _show_resources(
        self, loaded: tuple[list[VolumeSummary], list[NetworkSummary], bool]
    ) -> None:
        volumes, networks, self._volume_force = loaded
        self.volumes = {v.name: v for v in volumes}
        self.networks = {n.name: n for n in networks}
        self.query_one(VolumesTable).sync(volume_rows(volumes))
        self.query_one(NetworksTable).sync(network_rows(networks))

    def reload_disk(self) -> None:
        self.run_job(
            "Disk use", self.app.backend.disk_usage, self._show_disk, group="disk", exclusive=True
        )

    def _show_disk(self, usage: DiskUsage) -> None:
        self.disk_loads += 1
        self.query_one(DiskTable).sync(disk_rows(usage.rows))

    def _after_change(self) -> None:
        """Every list a volume, network or prune verb can change."""
        self.reload_resources()
        self.reload_images()
        self.poll_now()
        if self.query_one("#bottom", TabbedContent).active == TABS["disk"]:
            self.reload_disk()

    # -- menus -----------------------------------------------------------------------

    @on(ResourceTable.MenuRequested, "#volumes")
    def _volume_menu(self, event: ResourceTable.MenuRequested) -> None:
        vol = self.volumes.get(event.key)
        if vol is None:
            return
        used = f", used by {users_text(vol.containers)}" if vol.containers else ""
        self.app.push_screen(
            ActionMenu(f"volume {vol.name}{used}", volume_verbs(vol)),
            lambda verb: self._resource_verb(VolumesTable, verb, vol.name),
        )

    @on(ResourceTable.MenuRequested, "#networks")
    def _network_menu(self, event: ResourceTable.MenuRequested) -> None:
        net = self.networks.get(event.key)
        if net is None:
            return
        self.app.push_screen(
            ActionMenu(
                f"network {net.name} ({net.driver}, {net.subnet or 'no subnet'})",
                network_verbs(net),
            ),
            lambda verb: self._resource_verb(NetworksTable, verb, net.name),
        )

    @on(ResourceTable.MenuRequested, "#disk")
    def _disk_menu(self, event: ResourceTable.MenuRequested) -> None:
        self.action_prune_row()

    def _resource_verb(self, table_type: type[ResourceTable], verb: str | None, key: str) -> None:
        table = self.query_one(table_type)
        table.select_key(key)
        volumes = table_type is VolumesTable
        simple: dict[str, Callable[[], object]] = {
            "inspect": table.action_inspect,
            "copy": table.action_copy_id,
            "remove": table.action_delete,
            "create": self.action_create_volume if volumes else self.action_create_network,
            "prune": lambda: self.action_prune("volumes" if volumes else "networks"),
            "connect": self.action_connect_network,
            "disconnect": self.action_disconnect_network,
        }
        if verb in simple:
            self.call_later(simple[verb])

    # -- volumes -----------------------------------------------------------------------

    def action_create_volume(self) -> None:
        def create(name: str) -> None:
            backend = self.app.backend
            self.run_job(
                "Create volume",
                lambda: backend.create_volume(name),
                lambda _: self.notify(f"created volume {name}", title="Volumes"),
                self._after_change,
            )

        self._ask("Create a volume named", "", "volume-name", create)

    @on(ResourceTable.DeleteRequested, "#volumes")
    def _delete_volumes(self, event: ResourceTable.DeleteRequested) -> None:
        chosen = [self.volumes[k] for k in event.keys if k in self.volumes]
        in_use = [v for v in chosen if v.in_use]
        if in_use and not self._volume_force:
            # The engine refuses these whatever is asked: say so, and why.
            for v in in_use:
                self.notify(
                    f"volume {v.name} is in use by {users_text(v.containers)}: "
                    "remove those containers first",
                    severity="error",
                    title="Cannot remove",
                )
            chosen = [v for v in chosen if not v.in_use]
            in_use = []
        if not chosen:
            return
        items = [
            f"{v.name}: used by {users_text(v.containers)}" if v.in_use else v.name for v in chosen
        ]
        title = f"Remove {len(chosen)} volume{'s' if len(chosen) > 1 else ''}?"
        note, choices = "", None
        if in_use:
            note = "In use: Force removes the volume and the containers that use it."
            choices = [("force", "Force", "f")]
        names = [v.name for v in chosen]
        forced = {v.name for v in in_use}

        def answered(choice: bool | str | None) -> None:
            if not choice:
                return
            self.query_one(VolumesTable).action_clear_marks()
            backend = self.app.backend
            for name in names:
                if name in forced and choice != "force":
                    continue
                self.run_job(
                    f"Remove volume {name}",
                    lambda n=name: backend.remove_volume(n, force=n in forced),
                    lambda _, n=name: self.notify(f"removed volume {n}", title="Volumes"),
                    self._after_change,
                )

        self.app.push_screen(ConfirmScreen(title, items, note, choices), answered)

    # -- networks ----------------------------------------------------------------------

    def action_create_network(self) -> None:
        def create(text: str) -> None:
            name, _, subnet = text.partition(" ")
            subnet = subnet.strip() or None
            backend = self.app.backend
            self.run_job(
                "Create network",
                lambda: backend.create_network(name, subnet),
                lambda net: self.notify(
                    f"created network {net.name} {net.subnet}".rstrip(), title="Networks"
                ),
                self._after_change,
            )

        self._ask("Create a network: NAME [SUBNET]", "", "name 10.90.0.0/24", create)

    @on(ResourceTable.DeleteRequested, "#networks")
    def _delete_networks(self, event: ResourceTable.DeleteRequested) -> None:
        chosen = [self.networks[k] for k in event.keys if k in self.networks]
        for net in chosen:
            if net.name in DEFAULT_NETWORKS:
                self.notify(
                    f"{net.name} is a default network and cannot be removed",
                    severity="error",
                    title="Cannot remove",
                )
            elif net.containers:
                self.notify(
                    f"network {net.name} has containers attached ({users_text(net.containers)}):"
                    " disconnect them first (D)",
                    severity="error",
                    title="Cannot remove",
                )
        names = [n.name for n in chosen if n.name not in DEFAULT_NETWORKS and not n.containers]
        if not names:
            return

        def answered(yes: bool | str | None) -> None:
            if not yes:
                return
            self.query_one(NetworksTable).action_clear_marks()
            backend = self.app.backend
            for name in names:
                self.run_job(
                    f"Remove network {name}",
                    lambda n=name: backend.remove_network(n),
                    lambda _, n=name: self.notify(f"removed network {n}", title="Networks"),
                    self._after_change,
                )

        title = f"Remove {len(names)} network{'s' if len(names) > 1 else ''}?"
        self.app.push_screen(ConfirmScreen(title, names), answered)

    def _current_network(self) -> NetworkSummary | None:
        key = self.query_one(NetworksTable).current_key
        net = self.networks.get(key) if key else None
        if net is None:
            self.notify("select a network first", severity="warning")
        return net

    def action_connect_network(self) -> None:
        net = self._current_network()
        if net is None:
            return
        candidates = sorted(i.name for i in self.infos.values() if i.name not in net.containers)
        if not candidates:
            self.notify(f"no container to connect to {net.name}", severity="warning")
            return
        self._pick_container(
            f"Connect to {net.name}", candidates, lambda c: self._network_op("connect", net.name, c)
        )

    def action_disconnect_network(self) -> None:
        net = self._current_network()
        if net is None:
            return
        if not net.containers:
            self.notify(f"no container is attached to {net.name}", severity="warning")
            return
        self._pick_container(
            f"Disconnect from {net.name}",
            list(net.containers),
            lambda c: self._network_op("disconnect", net.name, c),
        )

    def _pick_container(self, title: str, names: list[str], then: Callable[[str], object]) -> None:
        def picked(name: str | None) -> None:
            if name:
                then(name)

        verbs = [Verb(name, name) for name in names]
        self.app.push_screen(ActionMenu(title, verbs), picked)

    def _network_op(self, verb: str, network: str, container: str) -> None:
        backend = self.app.backend
        call = backend.connect_network if verb == "connect" else backend.disconnect_network
        past = "connected to" if verb == "connect" else "disconnected from"
        self.run_job(
            f"{verb.capitalize()} {container}",
            lambda: call(network, container),
            lambda _: self.notify(f"{container} {past} {network}", title="Networks"),
            self._after_change,
        )

    # -- prune ------------------------------------------------------------------------

    def action_prune_row(self) -> None:
        kind = self.query_one(DiskTable).current_key
        if kind in pruneplan.WHAT:
            self.action_prune(kind)
        elif kind:
            self.notify("The build cache has no prune here: `tuidock system prune` has.")

    def action_prune(self, kind: str) -> None:
        """The dry run (in a worker), a confirm that shows it, then the prune."""
        backend = self.app.backend
        self.run_job(
            "Prune",
            lambda: pruneplan.plan(backend, kind),
            self._confirm_prune,
            group="prune",
            exclusive=True,
        )

    def _confirm_prune(self, plan: pruneplan.PrunePlan) -> None:
        if not plan.items:
            self.notify(plan.empty_text, title="Prune")
            return

        def answered(yes: bool | str | None) -> None:
            if yes:
                backend = self.app.backend
                self.run_job(
                    f"Prune {plan.kind}",
                    lambda: backend.prune(plan.kind),
                    lambda out: self._pruned(plan.kind, out),
                    self._after_change,
                )

        self.app.push_screen(ConfirmScreen(plan.title, plan.items, plan.note), answered)

    def _pruned(self, kind: str, outcome: PruneOutcome) -> None:
        n = len(outcome.removed)
        text = f"removed {n} {pruneplan.WHAT[kind][n != 1]}"
        if kind != "networks":
            text += f"; total reclaimed space: {human_size(outcome.reclaimed)}"
        self.notify(text, title="Prune")
