"""Containers on disk: containers/<id>/{config,spec,state}.json, names, locks.

The files of a container directory are named in store/ctrlayout.py. The
image gc reads config.json's `Image` and `ChainIDs` keys.

Locks (flock, so they die with their holder):

- the store lock (locks/containers.lock) serialises what must see every
  container at once: name uniqueness at create and rename, and removal;
- a container's state lock is a flock on its directory: every
  read-modify-write of state.json holds it, briefly (never while waiting);
- a container's op lock (op.lock in its directory) serialises start and rm
  of one container, so two `start`s never launch two monitors.

Reading state reconciles it: a container recorded as running whose monitor
process is gone (checked by pid and by the start time in /proc/<pid>/stat,
so a reused pid does not pass as alive) is marked exited. Its PID 1 was
killed by PDEATHSIG when the monitor died, so ExitCode is 137 (SIGKILL)
unless the monitor had recorded the real code; the cgroup is destroyed and
`--rm` honoured.

A pause records its owner (pid and start time, PauseOwner) in state.json
before the freezer is written. `tuidock pause` drops the owner once the
container is frozen, so a user's pause lasts; `commit` keeps it (a pause
lease) until it thaws the container itself. Reading a paused state whose
owner is gone thaws the freezer and marks the container running, so a
pauser killed at any point never leaves the container frozen for good.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from tuidock.core.status import ContainerStatus
from tuidock.errors import Conflict, NotFound, UsageError
from tuidock.runtime.linux.locking import file_lock
from tuidock.runtime.linux.procwatch import proc_start_time, process_alive
from tuidock.runtime.store import ctrlayout
from tuidock.runtime.store.ctrlayout import ContainerDir

ZERO_TIME = "0001-01-01T00:00:00Z"
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
# The exit code recorded for a container whose monitor died: PID 1 got
# SIGKILL through PDEATHSIG, so 128 + 9.
MONITOR_DIED_EXIT = 137

# Small word lists for Docker-style random names (adjective_surname).
_ADJECTIVES = (
    "agile",
    "brave",
    "bright",
    "calm",
    "clever",
    "cosmic",
    "crisp",
    "daring",
    "eager",
    "fierce",
    "gentle",
    "happy",
    "jolly",
    "keen",
    "lively",
    "lucid",
    "merry",
    "nimble",
    "noble",
    "plucky",
    "proud",
    "quick",
    "quiet",
    "rapid",
    "serene",
    "sharp",
    "shiny",
    "sleek",
    "snappy",
    "solid",
    "steady",
    "stoic",
    "sunny",
    "swift",
    "tender",
    "vivid",
    "witty",
    "zealous",
)
_SURNAMES = (
    "babbage",
    "banach",
    "bohr",
    "curie",
    "darwin",
    "dijkstra",
    "einstein",
    "euler",
    "fermat",
    "feynman",
    "galois",
    "gauss",
    "hamilton",
    "hopper",
    "kepler",
    "knuth",
    "lamport",
    "lovelace",
    "maxwell",
    "meitner",
    "mirzakhani",
    "newton",
    "noether",
    "pascal",
    "planck",
    "ramanujan",
    "ritchie",
    "shannon",
    "thompson",
    "torvalds",
    "turing",
    "wozniak",
    "yalow",
)


def new_id() -> str:
    """A 64-hex container ID; IDs are unguessable, like Docker's."""
    return os.urandom(32).hex()


def random_name() -> str:
    a, b = os.urandom(2)
    return f"{_ADJECTIVES[a % len(_ADJECTIVES)]}_{_SURNAMES[b % len(_SURNAMES)]}"


def valid_name(name: str) -> bool:
    """Docker's rule: [a-zA-Z0-9][a-zA-Z0-9_.-]+"""
    return len(name) >= 2 and name[0].isascii() and name[0].isalnum() and set(name) <= _NAME_CHARS


def write_json(path: Path, obj: object) -> None:
    """Replace a small JSON file atomically (temp file + rename).

    No fsync: these files describe processes, which a power loss ends anyway,
    and the state is reconciled on the next read; an fsync per state change
    would cost more than starting the container.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        f.write(json.dumps(obj, indent=1).encode())
    os.replace(tmp, path)


def now_rfc3339() -> str:
    """The current time as RFC 3339 with nanoseconds (Docker's time format)."""
    ns = time.time_ns()
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"


def this_process() -> dict:
    """This process as an owner record: {"Pid", "StartTime"} (checked by process_alive)."""
    pid = os.getpid()
    return {"Pid": pid, "StartTime": proc_start_time(pid)}


def initial_state() -> dict:
    return {
        "Status": ContainerStatus.CREATED,
        "Running": False,
        "Paused": False,
        "Restarting": False,
        "OOMKilled": False,
        "Dead": False,
        "Pid": 0,
        "ExitCode": 0,
        "Error": "",
        "StartedAt": ZERO_TIME,
        "FinishedAt": ZERO_TIME,
        "RestartCount": 0,
        # Ours: the monitor behind a live container and the intent of a stop.
        "MonitorPid": 0,
        "MonitorStartTime": None,
        "PidStartTime": None,
        "ManuallyStopped": False,
    }


@contextlib.contextmanager
def _dir_lock(path: Path) -> Iterator[None]:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise NotFound(f"No such container: {path.name}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


class ContainerStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = Path(ctrlayout.containers_dir(root))
        self.lock_path = root / "locks" / "containers.lock"

    # -- paths -------------------------------------------------------------------

    def path(self, cid: str) -> Path:
        return self.dir / cid

    def files(self, cid: str) -> ContainerDir:
        """The paths of a container's files (str)."""
        return ContainerDir.of(self.root, cid)

    def ids(self) -> list[str]:
        try:
            return [e.name for e in os.scandir(self.dir) if len(e.name) == 64 and e.is_dir()]
        except FileNotFoundError:
            return []

    def exists(self, cid: str) -> bool:
        return os.path.isfile(self.files(cid).config)

    @contextlib.contextmanager
    def store_lock(self) -> Iterator[None]:
        with file_lock(self.lock_path):
            yield

    @contextlib.contextmanager
    def op_lock(self, cid: str) -> Iterator[None]:
        """Serialises start and rm of one container (held while a monitor starts)."""
        path = self.path(cid)
        if not path.is_dir():
            raise NotFound(f"No such container: {cid}")
        with file_lock(Path(self.files(cid).op_lock)):
            yield

    # -- config --------------------------------------------------------------------

    def read_config(self, cid: str) -> dict:
        try:
            with open(self.files(cid).config, "rb") as f:
                return json.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"No such container: {cid}") from None

    def write_config(self, cid: str, config: dict) -> None:
        write_json(Path(self.files(cid).config), config)

    def names(self) -> dict[str, str]:
        """name (without "/") -> ID, for every container."""
        out = {}
        for cid in self.ids():
            with contextlib.suppress(NotFound, ValueError, OSError):
                out[self.read_config(cid)["Name"].lstrip("/")] = cid
        return out

    def create(self, cid: str, config: dict, name: str | None) -> None:
        """Reserve the ID and a name (random if None) and write config.json and state.json.

        Runs under the store lock so two creates never take one name.
        """
        if name is not None:
            name = name.removeprefix("/")
            if not valid_name(name):
                raise UsageError(
                    f'Invalid container name ("{name}"), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
                )
        self.dir.mkdir(parents=True, exist_ok=True)
        with self.store_lock():
            taken = self.names()
            if name is None:
                name = random_name()
                tries = 0
                while name in taken:
                    tries += 1
                    base = random_name()
                    name = base if tries < 10 else f"{base}{tries}"
            elif name in taken:
                raise Conflict(
                    f'Conflict. The container name "/{name}" is already in use by container '
                    f'"{taken[name]}". You have to remove (or rename) that container to be able '
                    "to reuse that name."
                )
            path = self.path(cid)
            path.mkdir(mode=0o700)
            config["Name"] = "/" + name
            self.write_config(cid, config)
            self._write_state(cid, initial_state())

    def rename(self, cid: str, new: str) -> None:
        new = new.removeprefix("/")
        if not valid_name(new):
            raise UsageError(
                f'Invalid container name ("{new}"), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed'
            )
        with self.store_lock():
            taken = self.names()
            config = self.read_config(cid)
            old = config["Name"].lstrip("/")
            if new == old:
                raise Conflict("Renaming a container with the same name as its current name")
            if new in taken:
                raise Conflict(
                    f'Conflict. The container name "/{new}" is already in use by container '
                    f'"{taken[new]}". You have to remove (or rename) that container to be able '
                    "to reuse that name."
                )
            config["Name"] = "/" + new
            self.write_config(cid, config)

    def remove_dir(self, cid: str) -> None:
        """Delete a container's directory; idempotent."""
        path = self.path(cid)
        with self.store_lock():
            if not path.exists():
                return
            merged = path / ctrlayout.MERGED
            if os.path.ismount(merged):
                # The root is mounted in the container's own mount namespace; a
                # host mount here means a crashed setup: detach it, never delete through it.
                from tuidock.runtime.linux import overlay

                overlay.unmount(merged, detach=True)
            # Rename first: readers never see a half-deleted container.
            grave = self.dir / f".removing-{cid}"
            try:
                os.rename(path, grave)
            except FileNotFoundError:
                return
        import shutil

        shutil.rmtree(grave, ignore_errors=True)

    # -- resolving names -------------------------------------------------------------

    def resolve(self, ref: str) -> str:
        """A full ID, a name (with or without "/") or a unique ID prefix -> the ID.

        Same order as Docker: full ID, then exact name, then ID prefix. The
        code is exec's, whose hot path reads the store without this class.
        """
        from tuidock.runtime.store.execs import resolve

        return resolve(str(self.root), ref)

    # -- state ------------------------------------------------------------------------

    def _write_state(self, cid: str, state: dict) -> None:
        write_json(Path(self.files(cid).state), state)

    def _read_state_raw(self, cid: str) -> dict:
        try:
            with open(self.files(cid).state, "rb") as f:
                data = json.loads(f.read())
        except FileNotFoundError:
            raise NotFound(f"No such container: {cid}") from None
        return {**initial_state(), **data}

    @contextlib.contextmanager
    def state_lock(self, cid: str) -> Iterator[None]:
        with _dir_lock(self.path(cid)):
            yield

    def update_state(self, cid: str, change: Callable[[dict], object]) -> dict:
        """Read-modify-write state.json under the container's lock; returns the new state."""
        with self.state_lock(cid):
            state = self._read_state_raw(cid)
            change(state)
            self._write_state(cid, state)
            return state

    def state(self, cid: str, reconcile: bool = True) -> dict:
        """The container's state, corrected if its monitor (or its pauser) died behind its back."""
        state = self._read_state_raw(cid)
        if reconcile and self._monitor_lost(state):
            state = self.reconcile(cid)
        elif reconcile and self._pauser_lost(state):
            state = self.release_pause(cid)
        return state

    # -- pause -------------------------------------------------------------------------

    @staticmethod
    def _pauser_lost(state: dict) -> bool:
        owner = state.get("PauseOwner")
        return (
            state["Status"] == ContainerStatus.PAUSED
            and bool(owner)
            and not process_alive(owner.get("Pid", 0), owner.get("StartTime"))
        )

    def pause(self, cid: str, lease: bool = False) -> None:
        """Freeze a running container; with `lease` the pause ends when this process does.

        The paused state and its owner are written before the freezer, so
        whenever this process dies, readers find an owner to check.
        """
        with self.state_lock(cid):
            state = self._read_state_raw(cid)
            status = ContainerStatus.of(state)
            if status == ContainerStatus.PAUSED:
                raise Conflict(f"Container {cid} is already paused")
            if not status.can_pause:
                raise Conflict(f"Container {cid} is not running")
            state.update(Status=ContainerStatus.PAUSED, Paused=True, PauseOwner=this_process())
            self._write_state(cid, state)
            try:
                container_cgroup(cid).freeze()
            except BaseException:
                with contextlib.suppress(Exception):
                    container_cgroup(cid).thaw()
                state.update(Status=ContainerStatus.RUNNING, Paused=False)
                state.pop("PauseOwner", None)
                self._write_state(cid, state)
                raise
            if not lease:
                state.pop("PauseOwner", None)
                self._write_state(cid, state)

    def thaw(self, cid: str, only_if_owner_lost: bool = False) -> dict:
        """Thaw the freezer and mark a paused container running; the new state."""
        with self.state_lock(cid):
            state = self._read_state_raw(cid)
            if not ContainerStatus.of(state).can_unpause or (
                only_if_owner_lost and not self._pauser_lost(state)
            ):
                return state
            with contextlib.suppress(Exception):
                container_cgroup(cid).thaw()
            state.update(Status=ContainerStatus.RUNNING, Paused=False)
            state.pop("PauseOwner", None)
            self._write_state(cid, state)
            return state

    def release_pause(self, cid: str) -> dict:
        """Undo the pause of an owner that died (a killed `commit`)."""
        return self.thaw(cid, only_if_owner_lost=True)

    @staticmethod
    def _monitor_lost(state: dict) -> bool:
        # A "created" container has a MonitorPid only while a start is under way.
        status = ContainerStatus.of(state)
        busy = status.is_active or (status == ContainerStatus.CREATED and state["MonitorPid"])
        return bool(busy) and not process_alive(state["MonitorPid"], state["MonitorStartTime"])

    def reconcile(self, cid: str) -> dict:
        """Mark a container whose monitor is gone as exited; clean up after it."""
        removed = False
        with self.state_lock(cid):
            state = self._read_state_raw(cid)
            if not self._monitor_lost(state):
                return state
            if state["Status"] == ContainerStatus.CREATED:
                # The monitor died during a start whose caller died too: nothing ran.
                state.update(MonitorPid=0, MonitorStartTime=None, AttachSocket="")
                state["Error"] = state["Error"] or "container monitor died while starting"
                self._write_state(cid, state)
                destroy_cgroup(cid)
                return state
            pid, pid_start = state["Pid"], state["PidStartTime"]
            state.pop("PauseOwner", None)
            state.update(
                Status=ContainerStatus.EXITED,
                Running=False,
                Paused=False,
                Restarting=False,
                Pid=0,
                MonitorPid=0,
                MonitorStartTime=None,
                PidStartTime=None,
                FinishedAt=state["FinishedAt"]
                if state["FinishedAt"] > state["StartedAt"]
                else now_rfc3339(),
            )
            if state.get("PendingExitCode") is not None:
                state["ExitCode"] = state.pop("PendingExitCode")
            else:
                state["ExitCode"] = MONITOR_DIED_EXIT
                state["Error"] = "container monitor died"
            self._write_state(cid, state)
        # PDEATHSIG normally took PID 1 (and with it the pid namespace) down;
        # make sure, then drop the cgroup.
        if pid and process_alive(pid, pid_start):
            with contextlib.suppress(OSError):
                os.kill(pid, 9)
        destroy_cgroup(cid)
        with contextlib.suppress(NotFound, ValueError, OSError):
            if self.read_config(cid).get("HostConfig", {}).get("AutoRemove"):
                self.remove_dir(cid)
                removed = True
        if removed:
            raise NotFound(f"No such container: {cid}")
        return state


def container_cgroup(cid: str):  # -> ContainerCgroup
    from tuidock.runtime.linux.cgroups import ContainerCgroup

    return ContainerCgroup.load(cid)


def destroy_cgroup(cid: str) -> None:
    """Remove a container's cgroups, killing leftovers (a frozen one too); idempotent."""
    cgroup = container_cgroup(cid)
    if cgroup.exists:
        cgroup.destroy()
