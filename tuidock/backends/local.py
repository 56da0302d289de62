"""LocalBackend: the Backend protocol over the embedded engine (runtime.engine.Engine).

The only module of the UI's side that imports tuidock.runtime. It turns the
engine's records into the neutral results of base.py and keeps the fast
paths of the live dashboard, which read the data root and the cgroup tree
directly instead of going through the engine's full reads:

- images_stamp: one stat of the image index (rewritten by rename on change);
- containers_stamp: (inode, mtime) of each container's config.json and
  state.json, also replaced by rename on every change;
- stats_sampler: statsampler.Sampler over cgroup usage files kept open;
  with io=True (one container's details view) stats.StatsCollector instead,
  the reader of `tuidock stats`, which adds block I/O from the cgroup and
  network I/O from /proc/<pid>/net/dev;
- follow_events: store.events.Follower on the events log `tuidock events` reads;
- follow_log / follow_all_logs: runtime.container.logs' tailers of ctr.log
  (the reader `tuidock logs` uses), their entries turned into LogLines.
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, BinaryIO

from tuidock.backends.base import (
    BuildOutcome,
    ContainerSummary,
    CopyOutcome,
    DiskUsage,
    DiskUsageRow,
    EventRecord,
    Facts,
    FileChange,
    HistoryEntry,
    ImageSummary,
    LogLine,
    NetworkSummary,
    PruneOutcome,
    PullEvent,
    PullOutcome,
    PushOutcome,
    RemoveOutcome,
    RunOutcome,
    StatsSample,
    VolumeSummary,
    copy_landing,
    merge_new,
    merged_before,
    printable,
    tag_line,
)

if TYPE_CHECKING:
    import threading
    from collections.abc import Callable, Hashable

    from tuidock.backends.base import BuildSpec, PullProgress, RunSpec
    from tuidock.backends.localattach import LocalAttach
    from tuidock.runtime.container.options import CreateOptions
    from tuidock.runtime.container.views import ContainerInfo
    from tuidock.runtime.engine import Engine


def container_summary(info: ContainerInfo) -> ContainerSummary:
    st = info.state
    return ContainerSummary(
        id=info.id,
        name=info.name,
        image=info.image,
        status=st["Status"],
        started_at=st.get("StartedAt", "") or "",
        exit_code=st.get("ExitCode", 0) or 0,
        ports=info.ports or "",
        pid=st.get("Pid", 0) or 0,
    )


class LocalStats:
    """A StatsSampler over statsampler: the previous CPU counters per container
    and the open cgroup files of the running ones."""

    def __init__(self) -> None:
        from tuidock.runtime.container.statsampler import Sampler

        self._sampler = Sampler()

    def sample(self, ids: list[str]) -> dict[str, StatsSample]:
        from tuidock.runtime.container.statsampler import forget

        samples = self._sampler.sample(ids)
        forget(ids)
        return {
            cid: StatsSample(s.cpu_percent, s.memory_usage, s.memory_limit, s.pids)
            for cid, s in samples.items()
        }

    def close(self) -> None:
        from tuidock.runtime.container.statsampler import forget

        forget(())


class LocalIOStats:
    """A StatsSampler whose samples carry network and block I/O: `tuidock stats`'
    StatsCollector (every cgroup file, opened per read; meant for a few containers)."""

    def __init__(self, engine: Engine) -> None:
        from tuidock.runtime.container.stats import StatsCollector

        self._collector = StatsCollector(engine.containers)
        self._store = engine.containers.store

    def sample(self, ids: list[str]) -> dict[str, StatsSample]:
        from tuidock.core.status import ContainerStatus

        out: dict[str, StatsSample] = {}
        for row in self._collector.sample([(cid, "") for cid in ids]):
            try:
                up = ContainerStatus.of(self._store.state(row.id)).is_up
            except Exception:
                continue  # removed meanwhile
            if up:  # the collector gives a stopped container zeros; the protocol, no sample
                out[row.id] = StatsSample(
                    row.cpu_percent,
                    row.memory_usage,
                    row.memory_limit,
                    row.pids,
                    row.net_rx,
                    row.net_tx,
                    row.block_read,
                    row.block_write,
                )
        return out

    def close(self) -> None:
        pass


class LocalEvents:
    """An EventFollower over the events log (store.events.Follower)."""

    def __init__(self, root: str, since_ns: int | None) -> None:
        from tuidock.runtime.store.events import Follower

        self._follower = Follower(root)
        self._since = since_ns
        self._backlog: list[dict] = []
        if since_ns is None:
            self._follower.start_at_end()
        else:
            self._backlog = self._follower.open_with_rotated()

    def read_new(self) -> list[EventRecord]:
        raw, self._backlog = self._backlog + self._follower.poll(), []
        since = self._since
        return [EventRecord.of(e) for e in raw if since is None or e.get("timeNano", 0) >= since]

    def close(self) -> None:
        self._follower.close()


def json_log_line(obj: dict, at: tuple[int, int]) -> LogLine | None:
    """A LogLine straight from a decoded ctr.log entry (logs.LogTail's `make`)."""
    try:
        return LogLine(obj["time"], obj["stream"] == "stderr", printable(obj["log"]), "", at)
    except (KeyError, TypeError):
        return None  # a foreign line


class LocalLogFollower:
    """A LogFollower over logs.LogTail: the whole log (or its window), then what is
    appended; read_before reads earlier lines back from ctr.log / ctr.log.1."""

    def __init__(self, directory: str, since: str = "", tail: int | None = None) -> None:
        from tuidock.runtime.container.logs import LogTail

        self.directory = directory
        self._tail = LogTail(directory, json_log_line)
        self._since = since
        self._first_tail = tail
        self.skipped = 0  # bytes of a flood passed over unread (still in the file)
        self.max_read = self.MAX_READ  # LocalAllLogs gives each container a share

    # What one poll parses at most. The view shows a screenful while it
    # follows; what a flood writes beyond this is passed over (a gap the view
    # sees in `skipped`) and read back from the file if the user scrolls to it,
    # so the poll's parsing (in Python, holding the GIL the UI thread needs)
    # stays a small, fixed cost whatever the container writes.
    MAX_READ = 64 << 10

    def read_new(self) -> list[LogLine]:
        lines: list[LogLine] = self._tail.read_new(self.max_read)
        self.skipped = self._tail.skipped
        if self._since and lines:
            lines = [line for line in lines if line.time >= self._since]
            self._since = ""  # what comes after the first read is newer anyway
        if self._first_tail is not None:
            lines = lines[len(lines) - self._first_tail :] if self._first_tail else []
            self._first_tail = None
        return lines

    def read_before(self, line: LogLine, max_bytes: int) -> list[LogLine]:
        """Lines just before `line`, oldest first ([] when none are left); safe
        to call from a thread other than read_new's."""
        from tuidock.runtime.container.logs import read_before

        if line.at is None:
            return []
        return read_before(self.directory, line.at, max_bytes, json_log_line)  # type: ignore[arg-type]

    def gone(self) -> bool:
        return self._tail.gone()

    def close(self) -> None:
        self._tail.close()


class LocalAllLogs:
    """An AllLogsFollower: one LocalLogFollower per container directory, their
    reads merged by time, each line prefixed with its container's name.

    A poll parses at most about LocalLogFollower.MAX_READ in all, shared out
    between the containers, so five flooding containers cost a poll what one
    does. A container whose backlog was passed over starts its part of the
    batch later than the others: the batch is cut at the latest such start,
    so what it holds is contiguous in the merged order and what is before it
    is found again by read_before.

    read_before reads each container's file: the line's own container from
    the line's place, every other one from the first entry at the line's
    stamp, found by a binary search over its ctr.log (then ctr.log.1), whose
    entries are in time order.
    """

    MIN_READ = 8 << 10  # a container's share of a poll's read, at least

    def __init__(self, containers_dir: str, since: str = "", tail: int | None = None) -> None:
        self.containers_dir = containers_dir
        self._since = since
        self._tail = tail
        self._followers: dict[str, LocalLogFollower] = {}
        self._started = False
        self._gone_skipped = 0  # the skipped bytes of followers of removed containers
        self._names: dict[str, str] = {}
        self._shown_to = ""  # the newest stamp read_new returned
        self.skipped = 0

    def _present(self) -> list[str]:
        try:
            return sorted(e for e in os.listdir(self.containers_dir) if len(e) == 64)
        except FileNotFoundError:
            return []

    def read_new(self, names: dict[str, str]) -> list[LogLine]:
        self._names = names
        present = self._present()
        for cid in set(self._followers) - set(present):
            follower = self._followers.pop(cid)
            self._gone_skipped += follower.skipped
            follower.close()
        share = max(self.MIN_READ, LocalLogFollower.MAX_READ // max(1, len(present)))
        parts: list[tuple[list[LogLine], bool]] = []
        for cid in present:
            follower = self._followers.get(cid)
            if follower is None:
                # The tail window is for the containers there at the first read.
                tail = None if self._started else self._tail
                follower = LocalLogFollower(f"{self.containers_dir}/{cid}", self._since, tail)
                self._followers[cid] = follower
            follower.max_read = share
            before = follower.skipped
            name = names.get(cid) or cid[:12]
            lines = [tag_line(line, cid, name) for line in follower.read_new()]
            parts.append((lines, follower.skipped != before))
        # Under a tail window each container keeps its last N at first: no cut
        # (and nothing is read back).
        out = merge_new(parts, self._started or self._tail is None, self._shown_to)
        if out:
            self._shown_to = max(self._shown_to, out[-1].time)
        self._started = True
        self.skipped = self._gone_skipped + sum(f.skipped for f in self._followers.values())
        return out

    def read_before(self, line: LogLine, max_bytes: int) -> list[LogLine]:
        from tuidock.runtime.container.logs import read_before

        if not isinstance(line.at, tuple):
            return []
        own, at = line.at
        names = self._names
        found: dict[str, tuple[list[LogLine], bool]] = {}
        for cid in self._present():
            directory = f"{self.containers_dir}/{cid}"
            where = at if cid == own else entry_at(directory, line.time, after=cid < own)
            if where is None:
                continue
            got = read_before(directory, where, max_bytes, json_log_line)
            whole = not got or at_log_start(directory, got[0].at)
            name = names.get(cid) or cid[:12]
            found[cid] = ([tag_line(x, cid, name) for x in got], whole)
        return merged_before(found, line, max_bytes)

    def close(self) -> None:
        for follower in self._followers.values():
            follower.close()
        self._followers.clear()


def at_log_start(directory: str, at: tuple[int, int]) -> bool:
    """Whether the entry at `at` is the first the container's log holds (the
    start of ctr.log.1, or of ctr.log when there is no ctr.log.1)."""
    from tuidock.runtime.container.logs import LOG_NAME

    ino, offset = at
    if offset:
        return False
    try:
        return os.stat(f"{directory}/{LOG_NAME}.1").st_ino == ino
    except FileNotFoundError:
        return True


def entry_at(directory: str, stamp: str, after: bool = False) -> tuple[int, int] | None:
    """(inode, offset) of the first entry of a container's log stamped at or
    after `stamp` (`after`: later than it), for read_before; None when the
    log has nothing before it. The files' entries are in time order, so a
    binary search over byte offsets finds it in some 25 reads of one line."""
    from tuidock.runtime.container.logs import LOG_NAME

    path = f"{directory}/{LOG_NAME}"
    for name in (path, path + ".1"):
        try:
            f = open(name, "rb")  # noqa: SIM115 - closed by the with below
        except FileNotFoundError:
            continue
        with f:
            ino = os.fstat(f.fileno()).st_ino
            offset = _first_stamped(f, os.fstat(f.fileno()).st_size, stamp, after)
        if offset > 0:
            return ino, offset
    return None  # every entry is at or after the stamp, in both files


def _first_stamped(f: BinaryIO, size: int, stamp: str, after: bool) -> int:
    """The offset of the first line of `f` stamped at (after) `stamp` or later; `size` if none."""

    def line_start(x: int) -> int:  # the first line starting at or after x
        if x == 0:
            return 0
        f.seek(x - 1)
        return x - 1 + len(f.readline())

    def late(x: int) -> bool:
        start = line_start(x)
        if start >= size:
            return True
        f.seek(start)
        try:
            t = json.loads(f.readline()).get("time", "")
        except (ValueError, AttributeError):
            return False  # a torn or foreign line: look further on
        return t > stamp if after else t >= stamp

    lo, hi = 0, size
    while lo < hi:
        mid = (lo + hi) // 2
        if late(mid):
            hi = mid
        else:
            lo = mid + 1
    return line_start(lo)


class LocalBackend:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        # str paths: 100 Path joins a tick cost as much as the stats.
        self._containers_dir = str(engine.root / "containers")

    # -- facts and change stamps -------------------------------------------------------

    @property
    def location(self) -> str:
        return str(self.engine.root)

    def facts(self) -> Facts:
        from tuidock.runtime.linux import cgroups

        return Facts(self.location, cgroups.cgroup_version())

    def images_stamp(self) -> Hashable | None:
        try:
            st = os.stat(self.engine.images.path)
        except FileNotFoundError:
            return None
        return st.st_mtime_ns, st.st_ino

    def containers_stamp(self) -> Hashable | None:
        cdir = self._containers_dir
        out = []
        try:
            entries = sorted(e.name for e in os.scandir(cdir) if len(e.name) == 64)
        except FileNotFoundError:
            return ()
        for name in entries:
            for f in ("config.json", "state.json"):
                try:
                    st = os.stat(f"{cdir}/{name}/{f}")
                except FileNotFoundError:
                    return None  # half made or half removed: list it properly
                out.append((st.st_ino, st.st_mtime_ns))
        return tuple(zip(entries, out[0::2], out[1::2], strict=True))

    # -- images ------------------------------------------------------------------------

    def list_images(self) -> list[ImageSummary]:
        return [
            ImageSummary(rec.id, tuple(rec.repo_tags), rec.size, rec.created)
            for rec in self.engine.list_images()
        ]

    def pull(
        self,
        name: str,
        platform: str | None,
        progress: PullProgress,
        cancel: threading.Event,
    ) -> PullOutcome:
        from tuidock.core.platforms import parse_platform

        def relay(ev: object) -> None:
            progress(PullEvent(ev.kind, ev.id, ev.status, ev.current, ev.total))  # type: ignore[attr-defined]

        result = self.engine.pull(
            name, parse_platform(platform) if platform else None, relay, cancel
        )
        return PullOutcome(result.image.id, result.downloaded)

    def push(self, source: str, dest: str | None = None) -> list[PushOutcome]:
        return [PushOutcome(str(r.reference), r.digest) for r in self.engine.push(source, dest)]

    def tag(self, source: str, target: str) -> None:
        self.engine.tag(source, target)

    def remove_images(self, names: list[str], force: bool = False) -> RemoveOutcome:
        report, errors = self.engine.remove_images(names, force=force)
        return RemoveOutcome(list(report.untagged), list(report.deleted), list(errors))

    def image_history(self, name: str) -> list[HistoryEntry]:
        return [
            HistoryEntry(r.id, r.created, r.created_by, r.size, r.comment)
            for r in self.engine.image_history(name)
        ]

    def inspect_image(self, name: str) -> dict:
        return self.engine.inspect_image(name)

    def build(
        self,
        spec: BuildSpec,
        on_line: Callable[[str], None],
        cancel: threading.Event,
    ) -> BuildOutcome:
        from tuidock.backends.base import OutputLines
        from tuidock.core.reference import parse
        from tuidock.runtime.build.builder import Builder, BuildOptions

        opts = BuildOptions(
            context=spec.context,
            dockerfile=spec.dockerfile,
            tags=list(spec.tags),
            build_args=dict(spec.build_args),
            target=spec.target,
            no_cache=spec.no_cache,
            pull=spec.pull,
        )
        out = OutputLines(on_line)
        try:
            image_id = Builder(self.engine.containers, opts, out.line, out.feed, cancel).build()
        finally:
            out.flush()
        return BuildOutcome(image_id, tuple(str(parse(t)) for t in spec.tags))

    # -- networks ----------------------------------------------------------------------

    def _names(self) -> dict[str, str]:
        """Container ID -> name, from the containers' config files."""
        return {i.id: i.name for i in self.engine.list_containers(all=True)}

    def list_networks(self) -> list[NetworkSummary]:
        from tuidock.runtime.network import usernets

        names = self._names()
        out = []
        for n in usernets.listed(self.engine.root):
            # The address table keeps a removed container's lease until it is
            # reconciled: only containers that still exist count.
            attached = usernets.endpoints(self.engine.root, n["Name"]).values()
            out.append(
                NetworkSummary(
                    n["Name"],
                    n.get("Driver", "bridge"),
                    n.get("Id", ""),
                    ",".join(filter(None, [n.get("Subnet"), n.get("Subnet6")])),
                    tuple(sorted(names[c] for c in set(attached) if c in names)),
                )
            )
        return out

    def inspect_network(self, name: str) -> dict:
        from tuidock.runtime.network import network_config, usernets

        cfg = network_config(self.engine.root, name)
        names = self._names()
        containers = {
            cid: {"Name": names[cid], "IPv4Address": f"{ip}/{cfg['Subnet'].split('/')[1]}"}
            for ip, cid in usernets.endpoints(self.engine.root, cfg["Name"]).items()
            if cid in names
        }
        return {**cfg, "Containers": containers}

    def create_network(self, name: str, subnet: str | None = None) -> NetworkSummary:
        from tuidock.runtime.network import usernets

        v6 = subnet if subnet and ":" in subnet else None
        v4 = subnet if subnet and v6 is None else None
        cfg = usernets.create(self.engine.root, name, v4, v6 is not None, v6)
        subnets = ",".join(filter(None, [cfg.get("Subnet"), cfg.get("Subnet6")]))
        return NetworkSummary(cfg["Name"], cfg.get("Driver", "bridge"), cfg.get("Id", ""), subnets)

    def remove_network(self, name: str) -> None:
        from tuidock.runtime.network import usernets

        usernets.remove(self.engine.root, name)

    def connect_network(self, name: str, container: str) -> None:
        from tuidock.runtime.network import endpoint

        containers = self.engine.containers
        cid = containers.resolve(container)
        with containers.store.op_lock(cid):  # as `network connect`: no start or rm meanwhile
            endpoint.connect(containers.root, cid, name, [])

    def disconnect_network(self, name: str, container: str) -> None:
        from tuidock.runtime.network import endpoint

        containers = self.engine.containers
        cid = containers.resolve(container)
        with containers.store.op_lock(cid):
            endpoint.disconnect(containers.root, cid, name)

    # -- volumes -----------------------------------------------------------------------

    def _volumes(self):  # -> VolumeStore
        from tuidock.runtime.store.volumes import VolumeStore

        return VolumeStore(self.engine.root)

    def list_volumes(self) -> list[VolumeSummary]:
        store = self._volumes()
        users = store.users()
        names = self._names()
        return [
            VolumeSummary(
                r["Name"],
                r.get("Driver") or "local",
                r.get("Mountpoint") or "",
                r.get("CreatedAt") or "",
                tuple(sorted(names.get(c, c[:12]) for c in users.get(r["Name"], ()))),
            )
            for r in store.list()
        ]

    def inspect_volume(self, name: str) -> dict:
        return self._volumes().inspect(name)

    def create_volume(self, name: str) -> VolumeSummary:
        from tuidock.errors import Conflict

        record, created = self._volumes().create(name, anonymous=False)
        if not created:
            raise Conflict(f"volume {name} already exists", "Pick another name.")
        return VolumeSummary(name, record["Driver"], record["Mountpoint"], record["CreatedAt"])

    def remove_volume(self, name: str, force: bool = False) -> None:
        # The store refuses a volume in use whatever `force` says, as Docker.
        self._volumes().remove(name, force=force)

    @property
    def force_removes_volume_users(self) -> bool:
        return False

    # -- disk use and prune ------------------------------------------------------------

    def disk_usage(self) -> DiskUsage:
        from tuidock.runtime.store.paths import tree_size
        from tuidock.runtime.system import disk_usage

        engine = self.engine
        rows = [
            DiskUsageRow(r.type, r.total, r.active, r.size, r.reclaimable)
            for r in disk_usage(engine, engine.containers)
        ]
        store = self._volumes()
        volumes = {n: tree_size(store.path(n) / "_data") for n in store.names()}
        cstore = engine.containers.store
        containers = {
            c.id: tree_size(cstore.files(c.id).upper) for c in engine.containers.list(all=True)
        }
        return DiskUsage(rows, volumes, containers)

    def prune(self, kind: str) -> PruneOutcome:
        engine = self.engine
        if kind == "containers":
            removed, reclaimed = engine.prune_containers()
            return PruneOutcome(list(removed), reclaimed)
        if kind == "images":
            report = engine.prune_images(all_images=False)
            return PruneOutcome(list(report.deleted), report.reclaimed)
        if kind == "volumes":
            names, reclaimed = self._volumes().prune(all_volumes=True)
            return PruneOutcome(list(names), reclaimed)
        if kind == "networks":
            from tuidock.runtime.network import usernets

            return PruneOutcome(usernets.prune(engine.root))
        raise ValueError(f"unknown prune kind {kind!r}")

    # -- containers --------------------------------------------------------------------

    def list_containers(self) -> list[ContainerSummary]:
        return [container_summary(i) for i in self.engine.list_containers(all=True)]

    def _create_options(self, spec: RunSpec) -> CreateOptions:
        """The spec as `run`'s flags make CreateOptions, with the same parsers."""
        from tuidock.core.flagvalues import int_flag
        from tuidock.runtime.container.options import CreateOptions, parse_cpus, parse_memory

        memory, cpus, pids = spec.memory.strip(), spec.cpus.strip(), spec.pids_limit.strip()
        return CreateOptions(
            image=spec.image,
            command=list(spec.command),
            name=spec.name,
            env=list(spec.env),
            network=spec.network,
            publish=list(spec.ports),
            volumes=list(spec.volumes),
            restart=spec.restart or "no",
            memory=parse_memory(memory) if memory else None,
            cpus=parse_cpus(cpus) if cpus else None,
            pids_limit=int_flag("--pids-limit")(pids) if pids else None,
            tty=spec.tty,
        )

    def check_run(self, spec: RunSpec) -> None:
        from tuidock.runtime.container.options import check_options, on_bridge
        from tuidock.runtime.network import network_config

        opts = self._create_options(spec)
        check_options(opts)
        if on_bridge(opts.network):
            network_config(self.engine.root, opts.network)  # a user network must exist

    def run(self, spec: RunSpec) -> RunOutcome:
        cid, _client, warnings = self.engine.run(self._create_options(spec))
        return RunOutcome(cid, list(warnings))

    def start(self, cid: str) -> None:
        self.engine.start_container(cid)

    def stop(self, cid: str, timeout: int | None = None) -> None:
        self.engine.stop_container(cid, timeout)

    def restart(self, cid: str, timeout: int | None = None) -> None:
        self.engine.restart_container(cid, timeout)

    def kill(self, cid: str, signal: str | int = "KILL") -> None:
        self.engine.kill_container(cid, signal)

    def pause(self, cid: str) -> None:
        self.engine.pause_container(cid)

    def unpause(self, cid: str) -> None:
        self.engine.unpause_container(cid)

    def remove(self, cid: str, force: bool = False) -> None:
        self.engine.remove_container(cid, force=force)

    def rename(self, cid: str, new_name: str) -> None:
        self.engine.rename_container(cid, new_name)

    def commit(self, cid: str, reference: str) -> str:
        from tuidock.runtime.container.commit import commit

        return commit(self.engine.containers, cid, reference)

    def top(self, cid: str) -> tuple[list[str], list[list[str]]]:
        return self.engine.container_top(cid)

    def inspect_container(self, cid: str) -> dict:
        return self.engine.inspect_container(cid)

    def diff(self, cid: str) -> list[FileChange]:
        from tuidock.runtime.container import fs

        containers = self.engine.containers
        layers = fs.ContainerLayers.of(containers, containers.resolve(cid))
        return [FileChange(kind, path) for kind, path in fs.container_changes(layers)]

    def copy_from_container(self, cid: str, src: str, dest: str) -> CopyOutcome:
        from tuidock.runtime.container import copy as ctrcopy

        containers = self.engine.containers
        counts = ctrcopy.copy_from_container(containers, containers.resolve(cid), src, dest)
        return CopyOutcome(counts.files, counts.bytes, copy_landing(src, dest, counts.into_dir))

    def copy_to_container(self, cid: str, src: str, dest: str) -> CopyOutcome:
        from tuidock.runtime.container import copy as ctrcopy

        containers = self.engine.containers
        counts = ctrcopy.copy_to_container(containers, containers.resolve(cid), src, dest)
        return CopyOutcome(counts.files, counts.bytes, copy_landing(src, dest, counts.into_dir))

    def shell_command(self, cid: str) -> list[str]:
        from tuidock.runtime.container.exec.shell import shell_command

        return list(shell_command(cid))

    def attach(self, cid: str) -> LocalAttach:
        from tuidock.backends.localattach import LocalAttach

        return LocalAttach.open(self.engine.containers, cid)

    def attach_command(self, cid: str) -> list[str]:
        from tuidock.backends.attachrelay import relay_argv

        return relay_argv(["local"], cid)  # $TUIDOCK_ROOT goes with the environment

    # -- live data ---------------------------------------------------------------------

    def stats_sampler(self, io: bool = False) -> LocalStats | LocalIOStats:
        return LocalIOStats(self.engine) if io else LocalStats()

    def follow_events(self, since_ns: int | None = None) -> LocalEvents:
        return LocalEvents(str(self.engine.root), since_ns)

    def follow_log(self, cid: str, since: str = "", tail: int | None = None) -> LocalLogFollower:
        return LocalLogFollower(f"{self._containers_dir}/{cid}", since, tail)

    def follow_all_logs(self, since: str = "", tail: int | None = None) -> LocalAllLogs:
        return LocalAllLogs(self._containers_dir, since, tail)


def open_local() -> LocalBackend:
    """The embedded engine of $TUIDOCK_ROOT (else the default data root), as the CLI uses it."""
    from tuidock.runtime.engine import default_engine

    return LocalBackend(default_engine())
