"""`--user` resolved in the container's own /etc/passwd and /etc/group.

Runs inside the container after pivot_root, so every path (and every
symlink in it) resolves inside the container's root. Semantics follow
runc's GetExecUser, which Docker uses:

- "" is uid 0; "name" must be in passwd; a number is a uid even without an
  entry (then gid 0, HOME /), and is never taken as a name.
- "user:group": the group is looked up in /etc/group by name, or taken as
  a number; an explicit group replaces the passwd gid and leaves no
  supplementary groups. Without one, the supplementary groups are those of
  /etc/group that list the user as a member.
"""

from __future__ import annotations

import os
import stat

from tuidock.errors import TuidockError

MAX_DB_SIZE = 4 << 20
MAX_ID = (1 << 31) - 1


class ExecUser:
    """Who the process runs as. A plain class, not a dataclass: `exec` imports
    this module on its hot path and `dataclasses` alone costs it ~10 ms."""

    __slots__ = ("gid", "home", "sgids", "uid")

    def __init__(
        self, uid: int = 0, gid: int = 0, sgids: list[int] | None = None, home: str = "/"
    ) -> None:
        self.uid = uid
        self.gid = gid
        self.sgids = sgids if sgids is not None else []
        self.home = home

    def _key(self) -> tuple[int, int, list[int], str]:
        return (self.uid, self.gid, self.sgids, self.home)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecUser) and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable, as the dataclass was

    def __repr__(self) -> str:
        return f"ExecUser(uid={self.uid}, gid={self.gid}, sgids={self.sgids}, home={self.home!r})"


def _read_db(path: str) -> list[list[str]] | None:
    """Colon-separated records of a passwd/group file; None if it is absent."""
    try:
        # O_NONBLOCK: an image could make /etc/passwd a FIFO to hang us.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise TuidockError(f"{path} in the image is not a regular file")
        data = os.read(fd, MAX_DB_SIZE)
    finally:
        os.close(fd)
    records = []
    for line in data.decode(errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            records.append(line.split(":"))
    return records


def _int(text: str) -> int | None:
    if not text.isdigit():
        return None
    value = int(text)
    if value > MAX_ID:
        raise TuidockError(f"user or group id {text} is out of range")
    return value


def resolve(spec: str, passwd: str = "/etc/passwd", group: str = "/etc/group") -> ExecUser:
    """The uid, gid, supplementary gids and home that `spec` means here."""
    user_arg, _, group_arg = spec.partition(":")
    uid_arg = _int(user_arg)
    gid_arg = _int(group_arg)
    user = ExecUser()
    matched_name = ""
    for rec in _read_db(passwd) or []:
        if len(rec) < 4:
            continue
        rec_uid = _int(rec[2])
        if rec_uid is None:
            continue
        if user_arg == "":
            hit = rec_uid == 0
        elif uid_arg is not None:
            hit = rec_uid == uid_arg
        else:
            hit = rec[0] == user_arg
        if hit:
            matched_name = rec[0]
            user.uid = rec_uid
            user.gid = _int(rec[3]) or 0
            user.home = rec[5] if len(rec) > 5 and rec[5] else "/"
            break
    else:
        if user_arg and uid_arg is None:
            raise TuidockError(
                f"unable to find user {user_arg}: no matching entries in passwd file"
            )
        if uid_arg is not None:
            user.uid = uid_arg
    if not group_arg and not matched_name:
        return user
    groups = _read_db(group) or []
    if group_arg:
        for rec in groups:
            if len(rec) < 3:
                continue
            rec_gid = _int(rec[2])
            if rec_gid is None:
                continue
            if (gid_arg is not None and rec_gid == gid_arg) or (
                gid_arg is None and rec[0] == group_arg
            ):
                user.gid = rec_gid
                break
        else:
            if gid_arg is None:
                raise TuidockError(
                    f"unable to find group {group_arg}: no matching entries in group file"
                )
            user.gid = gid_arg
        return user
    for rec in groups:
        if len(rec) >= 4 and matched_name in rec[3].split(","):
            gid = _int(rec[2])
            if gid is not None:
                user.sgids.append(gid)
    return user
