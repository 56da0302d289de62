"""Named and anonymous volumes: <data root>/volumes/<name>/{_data, volume.json}.

A volume is a plain directory bind-mounted into containers (Docker's
"local" driver without options). Which containers use a volume is not
recorded here: each container's config.json lists its mounts (Docker's
`Mounts` shape), so `volume rm` scans the containers; nothing has to be
kept in step when a container goes away.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from tuidock.errors import Conflict, NotFound, UsageError
from tuidock.runtime.linux.locking import file_lock
from tuidock.runtime.store import ctrlayout, events, paths
from tuidock.runtime.store.containers import now_rfc3339, write_json

TYPE_CHECKING = False  # typing itself costs ~2 ms of a CLI start
if TYPE_CHECKING:
    from tuidock.core.prunefilter import PruneFilter

# Docker marks anonymous volumes with this label; `rm -v` and `--rm` remove only those.
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
_NAME_RE = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+")
RECORD = "volume.json"


def valid_name(name: str) -> bool:
    return bool(_NAME_RE.fullmatch(name))


class VolumeStore:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.dir = root / "volumes"
        self.lock = root / "locks" / "volumes.lock"

    def path(self, name: str) -> Path:
        return self.dir / name

    def _read(self, name: str) -> dict:
        try:
            return json.loads((self.path(name) / RECORD).read_bytes())
        except (FileNotFoundError, NotADirectoryError, ValueError):
            raise NotFound(f"get {name}: no such volume") from None

    def names(self) -> list[str]:
        try:
            return sorted(e.name for e in os.scandir(self.dir) if (Path(e.path) / RECORD).is_file())
        except FileNotFoundError:
            return []

    def create(
        self,
        name: str | None = None,
        labels: dict[str, str] | None = None,
        anonymous: bool | None = None,
    ) -> tuple[dict, bool]:
        """The volume `name` (random 64-hex when None); (record, created now).

        A nameless volume is anonymous (removed by `rm -v`) unless `anonymous`
        says otherwise, as for `volume create` without a name. As Docker,
        creating an existing volume is not an error: it is returned as is.
        """
        if anonymous is None:
            anonymous = name is None
        name = name or os.urandom(32).hex()
        if not valid_name(name):
            raise UsageError(
                f'create {name}: "{name}" includes invalid characters for a local volume '
                'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to pass '
                "a host directory, use absolute path"
            )
        self.lock.parent.mkdir(parents=True, exist_ok=True)
        with file_lock(self.lock):
            with contextlib.suppress(NotFound):
                return self._read(name), False
            vdir = self.path(name)
            (vdir / "_data").mkdir(parents=True, exist_ok=True)
            # Docker's volume roots are 0755 root-owned: any container user can traverse.
            os.chmod(vdir / "_data", 0o755)
            record = {
                "CreatedAt": now_rfc3339().split(".")[0] + "Z",
                "Driver": "local",
                "Labels": {**(labels or {}), **({ANONYMOUS_LABEL: ""} if anonymous else {})},
                "Mountpoint": str(vdir / "_data"),
                "Name": name,
                "Options": None,
                "Scope": "local",
            }
            write_json(vdir / RECORD, record)
        events.record(self.root, "volume", "create", name, {"driver": "local"})
        return record, True

    def inspect(self, name: str) -> dict:
        return self._read(name)

    def list(self) -> list[dict]:
        out = []
        for name in self.names():
            with contextlib.suppress(NotFound):
                out.append(self._read(name))
        return out

    def users(self) -> dict[str, list[str]]:
        """Volume name -> IDs of the containers (any state) that mount it."""
        out: dict[str, list[str]] = {}
        for cid, config in _container_configs(Path(ctrlayout.containers_dir(self.root))):
            for m in config.get("Mounts") or []:
                if m.get("Type") == "volume":
                    out.setdefault(m["Name"], []).append(cid)
        return out

    def remove(self, name: str, force: bool = False) -> None:
        """`volume rm`: refused while a container uses it (even -f, as Docker)."""
        self._read(name)  # NotFound first
        users = self.users().get(name)
        if users:
            raise Conflict(
                f"remove {name}: volume is in use - [{', '.join(users)}]",
            )
        self._delete(name)

    def _delete(self, name: str) -> None:
        with file_lock(self.lock):
            vdir = self.path(name)
            # Drop the record first: a half-removed volume no longer lists.
            with contextlib.suppress(FileNotFoundError):
                os.unlink(vdir / RECORD)
            shutil.rmtree(vdir, ignore_errors=True)
        events.record(self.root, "volume", "destroy", name, {"driver": "local"})

    def prune(
        self, all_volumes: bool = False, filters: PruneFilter | None = None
    ) -> tuple[list[str], int]:
        """Unused volumes: anonymous ones only (Docker 23+), every one with `all_volumes`."""
        users = self.users()
        removed, reclaimed = [], 0
        for record in self.list():
            name = record["Name"]
            if name in users:
                continue
            if filters and not filters.allows(record.get("CreatedAt"), record.get("Labels")):
                continue
            if not all_volumes and ANONYMOUS_LABEL not in (record.get("Labels") or {}):
                continue
            reclaimed += paths.disk_usage(self.path(name) / "_data")
            self._delete(name)
            removed.append(name)
        return removed, reclaimed

    def remove_anonymous(self, mounts: Sequence[dict]) -> None:
        """After `rm -v`/`--rm`: the container's anonymous volumes nobody else uses."""
        users = self.users()
        for m in mounts:
            if m.get("Type") != "volume" or m.get("Name") in users:
                continue
            with contextlib.suppress(NotFound):
                if ANONYMOUS_LABEL in (self._read(m["Name"]).get("Labels") or {}):
                    self._delete(m["Name"])


def _container_configs(cdir: Path) -> Iterator[tuple[str, dict]]:
    try:
        entries = list(os.scandir(cdir))
    except FileNotFoundError:
        return
    for e in entries:
        if len(e.name) != 64:
            continue
        with contextlib.suppress(OSError, ValueError):
            yield e.name, json.loads((Path(e.path) / ctrlayout.CONFIG).read_bytes())
