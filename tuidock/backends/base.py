"""The Backend protocol: everything the UI asks of an engine, in neutral types.

The UI (app, screens, widgets) imports this module and nothing of
tuidock.runtime, so the same screens can drive another engine by being handed
another Backend. Results are small dataclasses defined here; no engine type
appears in a signature. Every method may block (disk, registry, process
start): the UI calls them from thread workers only. Errors are TuidockError
subclasses whose message and hint the UI shows as they are.

The live dashboard's cost is the backend's to keep low: `images_stamp` and
`containers_stamp` are cheap "did anything change" tokens checked every tick
before a full listing; a StatsSampler keeps whatever it needs open between
ticks; a LogFollower returns only what was appended since its last read.
An EventFollower is the same for the engine's events (`docker events`); a
details view asks a sampler made with `io=True` for network and block I/O,
which the dashboard's sampler skips (more reads per container and tick).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Protocol

from tuidock.core.status import ContainerStatus


@dataclass(frozen=True)
class ImageSummary:
    """One image of the list; `repo_tags` hold full names (docker.io/library/x:1)."""

    id: str  # sha256:<config digest>
    repo_tags: tuple[str, ...] = ()
    size: int = 0
    created: str = ""  # RFC 3339, "" when unknown

    @property
    def short_id(self) -> str:
        return self.id.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class ContainerSummary:
    """One container of the list, with what its state allows."""

    id: str
    name: str
    image: str
    status: str  # Docker's: created, running, paused, restarting, exited, dead
    started_at: str = ""  # RFC 3339
    exit_code: int = 0
    ports: str = ""
    pid: int = 0  # host pid of its first process while it runs, else 0

    @property
    def state(self) -> ContainerStatus:
        """The status as the shared type; a string no engine should send reads as dead."""
        return ContainerStatus.of({"Status": self.status})

    @property
    def active(self) -> bool:
        return self.state.is_active

    @property
    def can_stop(self) -> bool:
        return self.state.can_stop

    @property
    def can_exec(self) -> bool:
        return self.state.can_exec

    @property
    def can_pause(self) -> bool:
        return self.state.can_pause

    @property
    def can_unpause(self) -> bool:
        return self.state.can_unpause

    @property
    def has_cgroup(self) -> bool:
        """Whether stats can be sampled (running or frozen)."""
        return self.state.is_up


@dataclass(frozen=True)
class StatsSample:
    """One tick of `docker stats` for one container."""

    cpu_percent: float
    memory_usage: int
    memory_limit: int
    pids: int
    # Cumulative bytes; 0 unless the sampler was made with io=True (or the
    # engine sends them anyway, as Docker's stats do).
    net_rx: int = 0
    net_tx: int = 0
    block_read: int = 0
    block_write: int = 0

    @property
    def memory_percent(self) -> float:
        return self.memory_usage / self.memory_limit * 100 if self.memory_limit else 0.0


@dataclass(frozen=True)
class EventRecord:
    """One engine event, as `docker events` has it: what (type, action) happened to whom."""

    time_ns: int
    type: str  # container, image, network, volume (and whatever else an engine sends)
    action: str  # start, die, kill, pull, tag, destroy, exec_start: sh ...
    actor_id: str
    attributes: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.attributes.get("name", "")

    @property
    def image(self) -> str:
        """The image it concerns: a container's image, or an image event's own name."""
        if self.type == "image":
            return self.attributes.get("name", "") or self.actor_id
        return self.attributes.get("image", "")

    @classmethod
    def of(cls, message: dict) -> EventRecord:
        """From Docker's events.Message JSON (the local engine's log holds the same)."""
        actor = message.get("Actor") or {}
        time_ns = message.get("timeNano") or int(message.get("time") or 0) * 1_000_000_000
        return cls(
            int(time_ns),
            str(message.get("Type") or ""),
            str(message.get("Action") or message.get("status") or ""),
            str(actor.get("ID") or message.get("id") or ""),
            {str(k): str(v) for k, v in (actor.get("Attributes") or {}).items()},
        )


@dataclass(frozen=True)
class FileChange:
    """One line of `docker diff`: kind A (added), C (changed) or D (deleted)."""

    kind: str
    path: str  # absolute, as Docker prints it


@dataclass(frozen=True)
class PullEvent:
    """Progress of a pull: kind "status" (a line of text) or "layer" (one layer's bytes)."""

    kind: str
    id: str = ""
    status: str = ""
    current: int = 0
    total: int = 0


@dataclass(frozen=True)
class PullOutcome:
    image_id: str
    downloaded: bool  # False: the local image was already up to date

    @property
    def short_id(self) -> str:
        return self.image_id.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class PushOutcome:
    reference: str
    digest: str


@dataclass(frozen=True)
class RemoveOutcome:
    """`rmi` of several names: what went, and one error line per name that failed."""

    untagged: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class HistoryEntry:
    id: str  # the image's ID on the top row, else "<missing>" as Docker shows
    created: str
    created_by: str
    size: int
    comment: str


@dataclass(frozen=True)
class RunSpec:
    """What the run dialog asks for, as `run` takes it on the command line.

    Values stay the text the user typed (`512m`, `0.5`, `8080:80`, `/src:/dst:ro`):
    the backend parses them with its engine's own rules, so the dialog shows the
    engine's messages and cannot disagree with the CLI.
    """

    image: str
    command: list[str] = field(default_factory=list)
    name: str | None = None
    env: list[str] = field(default_factory=list)
    network: str = "bridge"  # bridge (the default), none, host or a user network
    ports: list[str] = field(default_factory=list)  # -p [IP:][HOSTPORT:]PORT[/PROTO]
    volumes: list[str] = field(default_factory=list)  # -v [SRC:]DST[:OPTS]
    restart: str = "no"  # no, always, unless-stopped, on-failure[:N]
    memory: str = ""  # -m: "" for no limit
    cpus: str = ""  # --cpus: "" for no limit
    pids_limit: str = ""  # --pids-limit: "" for the engine's default
    tty: bool = False
    detach: bool = True  # False: the UI follows its logs (the engine always detaches)


@dataclass(frozen=True)
class NetworkSummary:
    """One network of `network ls` (the default bridge and user networks)."""

    name: str
    driver: str
    id: str = ""
    subnet: str = ""  # IPv4 and IPv6 subnets, comma separated ("" when the engine says none)
    containers: tuple[str, ...] = ()  # names of the containers attached (any state)

    @property
    def short_id(self) -> str:
        return self.id[:12]


@dataclass(frozen=True)
class VolumeSummary:
    """One volume of `volume ls`, with the containers (any state) that mount it."""

    name: str
    driver: str = "local"
    mountpoint: str = ""
    created: str = ""  # RFC 3339, "" when unknown
    containers: tuple[str, ...] = ()  # names of the containers that mount it

    @property
    def in_use(self) -> bool:
        return bool(self.containers)


@dataclass(frozen=True)
class DiskUsageRow:
    """One row of `system df`: Images, Containers, Local Volumes, Build Cache."""

    type: str
    total: int
    active: int
    size: int
    reclaimable: int


@dataclass(frozen=True)
class DiskUsage:
    """`system df`, plus the per-object sizes a prune's dry run adds up."""

    rows: list[DiskUsageRow] = field(default_factory=list)
    volume_sizes: dict[str, int] = field(default_factory=dict)  # volume name -> bytes
    container_sizes: dict[str, int] = field(default_factory=dict)  # container ID -> writable bytes


# What the prune verbs take: the UI's names for the engine's prune endpoints.
PRUNE_KINDS = ("containers", "images", "volumes", "networks")


@dataclass(frozen=True)
class PruneOutcome:
    """What a prune removed (names or IDs) and the bytes it gave back."""

    removed: list[str] = field(default_factory=list)
    reclaimed: int = 0


@dataclass(frozen=True)
class CopyOutcome:
    """What a copy between a container and the host moved: entries that are not
    directories (files, links, ...), the bytes of the regular files among them,
    and where the copy landed (copy_landing: on the host, or in the container)."""

    files: int
    bytes: int
    dest: str


def copy_landing(src: str, dest: str, dest_is_dir: bool) -> str:
    """Where `cp SRC DEST` puts SRC: inside DEST when that is a directory (unless SRC
    ends in "/.", whose contents go into DEST itself), else DEST."""
    if not dest_is_dir or src.endswith("/."):
        return dest
    name = src.rstrip("/").rsplit("/", 1)[-1]
    return f"{dest.rstrip('/')}/{name}" if name else dest


@dataclass(frozen=True)
class RunOutcome:
    id: str
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class BuildSpec:
    """What the build dialog asks for: `build [-f FILE] [-t NAME]... [--build-arg K=V]...
    [--target STAGE] [--no-cache] [--pull] CONTEXT`."""

    context: str  # the build context directory
    dockerfile: str | None = None  # None: <context>/Dockerfile
    tags: tuple[str, ...] = ()
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)  # the CLI's --label
    network: str | None = None  # the CLI's --network for RUN steps; None: the engine's


@dataclass(frozen=True)
class BuildOutcome:
    image_id: str
    tags: tuple[str, ...] = ()  # full names (docker.io/library/x:1), as ImageSummary's

    @property
    def short_id(self) -> str:
        return self.image_id.removeprefix("sha256:")[:12]


@dataclass(frozen=True)
class Facts:
    """What the header says about the engine: where it is and its cgroup layout."""

    location: str
    cgroup: str = "?"


@dataclass(slots=True)
class LogLine:
    time: str  # RFC 3339 UTC: sorts as text
    stderr: bool
    text: str  # one line, printable: no newline, no escapes, tabs expanded (see printable)
    # In the all-containers stream: the container's name, which `text` starts
    # with ("name | ..."), so search and save see it too.
    source: str = ""
    # Where the backend found the line (opaque; the local engine's (inode,
    # offset)), for LogFollower.read_before; None where the time says enough.
    at: object = None


# Escape sequences (colors, cursor moves) and other control characters would
# corrupt the pane's cells; tabs become spaces.
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]")
_CONTROL = {c: None for c in range(32) if c != 9} | {127: None}


def printable(text: str) -> str:
    """A log record's text as LogLine.text holds it, whichever backend read it."""
    if "\x1b" in text:
        text = _ANSI.sub("", text)
    text = text.rstrip("\n").rstrip("\r")
    if not text.isprintable():
        text = text.translate(_CONTROL)
    if "\t" in text:
        text = text.expandtabs(8)
    return text


class OutputLines:
    """A build's output as LogLine-style text lines: bytes in (a RUN's output,
    cut anywhere), complete printable lines out to `on_line`."""

    LONGEST = 64 << 10  # a longer line without a newline is passed on in pieces

    def __init__(self, on_line: Callable[[str], None]) -> None:
        import codecs

        self.on_line = on_line
        self.decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self.partial = ""

    def feed(self, data: bytes) -> None:
        text = self.partial + self.decoder.decode(data)
        *lines, self.partial = text.split("\n")
        if len(self.partial) > self.LONGEST:
            lines.append(self.partial)
            self.partial = ""
        for line in lines:
            self.on_line(printable(line))

    def line(self, text: str) -> None:
        """A whole line of the build's own ("Step 2/5 : ..."), after what came before."""
        self.flush()
        self.on_line(printable(text))

    def flush(self) -> None:
        rest = self.partial + self.decoder.decode(b"", final=True)
        self.partial = ""
        if rest:
            self.on_line(printable(rest))


class StatsSampler(Protocol):
    """Samples a set of containers once per call; CPU% needs two calls (a delta)."""

    def sample(self, ids: list[str]) -> dict[str, StatsSample]:
        """Samples of `ids` (a container that stopped meanwhile has none); what it
        holds for containers not in `ids` is released."""
        ...

    def close(self) -> None: ...


class LogFollower(Protocol):
    """One container's log: read_new follows it; read_before reads back what
    came before a line once the view no longer holds it (memory is bounded,
    the engine's log file is not)."""

    # Bytes of the log passed over by read_new (a flood faster than the view
    # reads): lines the view does not hold, found again by read_before.
    skipped: int

    def read_new(self) -> list[LogLine]:
        """Lines written since the last call; on the first call the whole log
        (within the `since`/`tail` window follow_log was given)."""
        ...

    def read_before(self, line: LogLine, max_bytes: int) -> list[LogLine]:
        """About `max_bytes` of the lines just before `line`, oldest first; []
        when there are none. Safe to call from another thread than read_new."""
        ...

    def gone(self) -> bool:
        """True once the container was removed: nothing more will come."""
        ...

    def close(self) -> None: ...


class EventFollower(Protocol):
    def read_new(self) -> list[EventRecord]:
        """Events recorded since the last call (on the first, those since `since`)."""
        ...

    def close(self) -> None: ...


class AllLogsFollower(Protocol):
    """Every container's log as one stream, merged by time, lines prefixed "name | ".

    The merged order is (time, container ID): within a read, lines sort by
    their stamps, ties by container ID, and each container's own lines keep
    their order. Each line's `at` is (container ID, where the container's
    own follower found it), so read_before can go on from any line the view
    holds. Windows apply per container, as `docker compose logs` does them:
    `tail` N is the last N lines of each container known at the first read
    (one that appears later is new: it is read whole), `since` drops lines
    older than it in every container.
    """

    # Lines passed over by read_new (a flood faster than the view reads), in
    # any container: the view sees a gap; read_before finds them again.
    skipped: int

    def read_new(self, names: dict[str, str]) -> list[LogLine]:
        """Lines written since the last call by the containers of `names` (ID ->
        name; the local engine also follows containers not named, by short ID)."""
        ...

    def read_before(self, line: LogLine, max_bytes: int) -> list[LogLine]:
        """About `max_bytes` of the merged lines just before `line` (one of
        this stream's), oldest first; [] when none are left. Safe to call from
        another thread than read_new."""
        ...

    def close(self) -> None: ...


ALL_SEPARATOR = " | "  # between the container's name and its line in the merged stream
# What a merged line's bytes are counted as when read back: its text and the record.
MERGE_OVERHEAD = 40


def tag_line(line: LogLine, cid: str, name: str) -> LogLine:
    """`line` of container `cid` as the merged stream shows it: "name | text",
    its place (cid, where its container's follower found it)."""
    line.source = name
    line.text = name + ALL_SEPARATOR + line.text
    line.at = (cid, line.at)
    return line


def merge_new(
    parts: list[tuple[list[LogLine], bool]], cut_gaps: bool = True, shown_to: str = ""
) -> list[LogLine]:
    """One read of every container (its tagged lines, whether its follower
    passed lines over in this read), merged by time.

    A container that passed lines over starts its part later than the
    others did: with `cut_gaps` the merge starts at the latest such start,
    and not before `shown_to` (the newest stamp of the reads before), so
    what it holds is contiguous in the merged order: the view replaces what
    it held with it (a gap), and read_before finds what is before it. A read
    without a gap is merged whole; a line that reached its follower after a
    newer one of another container was passed on comes after it."""
    cut = ""
    out: list[LogLine] = []
    for lines, passed_over in parts:
        if passed_over and lines and cut_gaps:
            cut = max(cut, lines[0].time, shown_to)
        out.extend(lines)
    out.sort(key=lambda line: line.time)  # stable: the parts' order, then each log's order
    if cut:
        k = 0
        while k < len(out) and out[k].time < cut:
            k += 1
        del out[:k]
    return out


def merged_before(
    per_container: dict[str, tuple[list[LogLine], bool]], line: LogLine, max_bytes: int
) -> list[LogLine]:
    """The newest `max_bytes` of the merged lines of `per_container` that come
    before `line` in the (time, ID) order, oldest first.

    `per_container`: ID -> (that container's newest lines before `line`,
    oldest first, tagged; whether they reach back to its log's start). A
    container read back only in part has lines before its first one that
    are not here: the merge starts at the latest such first line, so what it
    returns has no hole in any container (the next read-back goes on from
    there).
    """
    cid = line.at[0] if isinstance(line.at, tuple) else ""
    floor: tuple[str, str] = ("", "")
    merged: list[LogLine] = []
    for other, (lines, whole) in sorted(per_container.items()):
        before = [
            got
            for got in lines
            # The line's own container read what is before it in its log; of the
            # others, on a tie of stamp those sorting before its ID come first.
            if other == cid or got.time < line.time or (got.time == line.time and other < cid)
        ]
        if before and not whole:
            floor = max(floor, (before[0].time, other))
        merged.extend(before)
    merged.sort(key=lambda got: got.time)  # stable: ID order, then each container's order
    size = 0
    k = len(merged)
    while k > 0 and size < max_bytes:
        if (merged[k - 1].time, merged[k - 1].at[0]) < floor:  # type: ignore[index]
            break
        k -= 1
        size += len(merged[k].text) + MERGE_OVERHEAD
    return merged[k:]


PullProgress = Callable[[PullEvent], None]


class AttachStream(Protocol):
    """A live connection to a container's main process (`Backend.attach`), as
    `docker attach` has it: output from now on, input when the container keeps
    its stdin open (-i), a terminal size when it has a TTY (-t).

    `fileno` is readable when `read` has something or the output has ended;
    `read` returns (1 stdout | 2 stderr, bytes) pieces (a TTY's are all 1) and
    sets `ended` once the container's output is over. `close` leaves the
    container running (a detach). After the end, `exit_code` is the
    container's exit code, or None when it still runs (the engine detached).
    """

    name: str  # the container's name, for the session's own lines
    tty: bool  # bytes are a terminal's (raw); `resize` applies
    stdin: bool  # input reaches the process; False: output only
    ended: bool

    def fileno(self) -> int: ...

    def read(self) -> list[tuple[int, bytes]]: ...

    def write(self, data: bytes) -> None: ...

    def resize(self, rows: int, cols: int) -> None: ...

    def exit_code(self) -> int | None: ...

    def close(self) -> None: ...


class Backend(Protocol):
    """The engine as the UI sees it. Names are what the user typed (name, short
    or full ID, reference); IDs are full IDs as the listings return them."""

    # -- facts and change stamps -------------------------------------------------------

    @property
    def location(self) -> str:
        """Where the engine is, for the header (a data root, a socket). Cheap."""
        ...

    def facts(self) -> Facts: ...

    def images_stamp(self) -> Hashable | None:
        """Changes whenever the image list may have changed; cheap (a stat)."""
        ...

    def containers_stamp(self) -> Hashable | None:
        """Changes whenever a container's config or state changed; None when it
        cannot tell (a container half made): list to find out."""
        ...

    # -- images ------------------------------------------------------------------------

    def list_images(self) -> list[ImageSummary]: ...

    def pull(
        self,
        name: str,
        platform: str | None,
        progress: PullProgress,
        cancel: threading.Event,
    ) -> PullOutcome:
        """Blocks until pulled; `cancel` set stops it with nothing stored (raises)."""
        ...

    def push(self, source: str, dest: str | None = None) -> list[PushOutcome]: ...

    def tag(self, source: str, target: str) -> None: ...

    def remove_images(self, names: list[str], force: bool = False) -> RemoveOutcome:
        """`rmi` (`rmi -f` with force: an image a container uses loses its tags)."""
        ...

    def image_history(self, name: str) -> list[HistoryEntry]: ...

    def inspect_image(self, name: str) -> dict: ...

    def build(
        self,
        spec: BuildSpec,
        on_line: Callable[[str], None],
        cancel: threading.Event,
    ) -> BuildOutcome:
        """Build an image from a Dockerfile; blocks until built. Every line of
        the output (`Step 3/7 : RUN ...`, a RUN's output) goes to `on_line`,
        printable. `cancel` set stops it: the unfinished step leaves no
        container, mount or image behind (raises)."""
        ...

    # -- networks ----------------------------------------------------------------------

    def list_networks(self) -> list[NetworkSummary]:
        """As `network ls`: the default bridge first, then user networks, each
        with its subnets and attached containers."""
        ...

    def inspect_network(self, name: str) -> dict: ...

    def create_network(self, name: str, subnet: str | None = None) -> NetworkSummary:
        """A bridge network; `subnet` in CIDR form, else one the engine picks.
        An existing name raises Conflict."""
        ...

    def remove_network(self, name: str) -> None:
        """Refused (Conflict) while containers are attached, and for the default ones."""
        ...

    def connect_network(self, name: str, container: str) -> None: ...

    def disconnect_network(self, name: str, container: str) -> None: ...

    # -- volumes -----------------------------------------------------------------------

    def list_volumes(self) -> list[VolumeSummary]: ...

    def inspect_volume(self, name: str) -> dict: ...

    def create_volume(self, name: str) -> VolumeSummary:
        """A local volume. An existing name raises Conflict (the engines' own
        create returns the existing volume, which a dialog must not pass off as new)."""
        ...

    def remove_volume(self, name: str, force: bool = False) -> None:
        """Refused (Conflict) while a container mounts it, unless `force` and
        `force_removes_volume_users`."""
        ...

    @property
    def force_removes_volume_users(self) -> bool:
        """Whether remove_volume(force=True) removes a volume in use (and the
        containers that use it), so the UI offers Force. False for the local
        engine, Docker and Podman's compat API, which all refuse; libpod's own
        API would take it."""
        ...

    # -- disk use and prune ------------------------------------------------------------

    def disk_usage(self) -> DiskUsage: ...

    def prune(self, kind: str) -> PruneOutcome:
        """One of PRUNE_KINDS: stopped containers, dangling images, every volume
        no container mounts (named ones too), user networks no container uses."""
        ...

    # -- containers --------------------------------------------------------------------

    def list_containers(self) -> list[ContainerSummary]:
        """Every container, newest first (as `ps -a`)."""
        ...

    def check_run(self, spec: RunSpec) -> None:
        """Raise what `run(spec)` would raise for its options (a bad port, size,
        mount or policy), before anything is pulled or written."""
        ...

    def run(self, spec: RunSpec) -> RunOutcome:
        """Create and start, detached. The image must be local (see `pull`)."""
        ...

    def start(self, cid: str) -> None: ...

    def stop(self, cid: str, timeout: int | None = None) -> None: ...

    def restart(self, cid: str, timeout: int | None = None) -> None: ...

    def kill(self, cid: str, signal: str | int = "KILL") -> None:
        """Send a signal (a name with or without SIG, or a number) to its first
        process; a name the engine does not know raises UsageError."""
        ...

    def pause(self, cid: str) -> None: ...

    def unpause(self, cid: str) -> None: ...

    def remove(self, cid: str, force: bool = False) -> None: ...

    def rename(self, cid: str, new_name: str) -> None: ...

    def commit(self, cid: str, reference: str) -> str:
        """The new image's ID."""
        ...

    def top(self, cid: str) -> tuple[list[str], list[list[str]]]:
        """`top`: (titles, rows)."""
        ...

    def inspect_container(self, cid: str) -> dict: ...

    def diff(self, cid: str) -> list[FileChange]:
        """`diff`: what the container changed in its filesystem, in `docker diff`'s order."""
        ...

    def copy_from_container(self, cid: str, src: str, dest: str) -> CopyOutcome:
        """`cp CONTAINER:SRC DEST` with docker cp's path rules (a trailing "/."
        copies a directory's contents, a missing parent of DEST is an error);
        works on a stopped container. Nothing is left on the host on failure."""
        ...

    def copy_to_container(self, cid: str, src: str, dest: str) -> CopyOutcome:
        """`cp SRC CONTAINER:DEST`, the same rules the other way."""
        ...

    def shell_command(self, cid: str) -> list[str]:
        """An argv that runs an interactive shell in the container on this
        terminal (for a PTY); raises when it has no shell or is not running."""
        ...

    def attach(self, cid: str) -> AttachStream:
        """The container's main process's streams; raises (Conflict) when it is
        not running or paused. Input is attached when it was made with -i."""
        ...

    def attach_command(self, cid: str) -> list[str]:
        """An argv that runs an attach session to `cid` on this terminal (for a
        PTY; backends/attachrelay.py): ctrl-p ctrl-q detaches, its exit status
        is the container's exit code. No engine call: the session reports errors."""
        ...

    # -- live data ---------------------------------------------------------------------

    def stats_sampler(self, io: bool = False) -> StatsSampler:
        """A sampler; with io, its samples carry network and block I/O too."""
        ...

    def follow_events(self, since_ns: int | None = None) -> EventFollower:
        """The engine's events from `since_ns` (None: from now) on, as they come."""
        ...

    def follow_log(self, cid: str, since: str = "", tail: int | None = None) -> LogFollower:
        """`since`: RFC 3339 UTC, lines older are left out; `tail`: only the
        last N lines of what the log holds at the first read."""
        ...

    def follow_all_logs(self, since: str = "", tail: int | None = None) -> AllLogsFollower:
        """Every container's log as one stream; `since` and `tail` apply to each
        container's log (see AllLogsFollower)."""
        ...
