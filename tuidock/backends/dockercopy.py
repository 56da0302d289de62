"""cp between the host and a container of a Docker/Podman engine: the archive endpoints.

Used by DockerBackend.copy_from_container / copy_to_container (the UI) and by
`tuidock -H ... cp` (cli/remote/container_io.py, which adds the "-" tar
stream forms). The engine does the container side (it reads a stopped
container's filesystem too, and resolves symlinks inside it); this module
does the host side with docker cp's rules:

- out: GET /containers/{id}/archive streams a tar whose top entry is the
  source's base name; it is unpacked here, every member checked to stay
  under the destination ("..", absolute names and paths leaving through a
  symlink are refused). A source ending in "/." puts the directory's
  contents into the destination. A missing parent directory of the
  destination is an error, as is a directory onto a file.
- in: HEAD on the archive endpoint says whether the destination is a
  directory; the host path is packed into a tar here (owners become the
  container's root unless `archive`) and PUT to the destination directory.

Returns CopyOutcome (entries that are not directories, bytes of regular
files). Cost: a copy out streams (nothing held in memory beyond tarfile's
block); a copy in builds its tar in memory first, as one request body with
a length (Podman's service refuses a chunked one on some versions).
"""

from __future__ import annotations

import os
import tarfile
from typing import TYPE_CHECKING, Any

from tuidock.backends.base import CopyOutcome, copy_landing
from tuidock.errors import TuidockError

if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend


def _errors(backend: DockerBackend):  # type: ignore[no-untyped-def]
    from tuidock.backends.docker import api_errors

    return api_errors(backend.location)


def path_stat(backend: DockerBackend, cid: str, path: str) -> dict | None:
    """The engine's stat of a path in the container (the archive endpoint's HEAD), or None."""
    import base64
    import json

    api = backend.api()
    with _errors(backend):
        res = api.head(api._url("/containers/{0}/archive", cid), params={"path": path})
    if res.status_code == 404:
        return None
    with _errors(backend):
        api._raise_for_status(res)
    header = res.headers.get("X-Docker-Container-Path-Stat")
    return json.loads(base64.b64decode(header)) if header else {}


def is_dir(stat: dict) -> bool:
    return bool(int(stat.get("mode") or 0) & (1 << 31))  # Go's os.ModeDir


class StreamReader:
    """A file-like reader over an iterator of byte chunks (tarfile's stream mode)."""

    def __init__(self, chunks: Any) -> None:
        self.chunks = iter(chunks)
        self.buf = b""

    def read(self, n: int = -1) -> bytes:
        while n < 0 or len(self.buf) < n:
            try:
                self.buf += next(self.chunks)
            except StopIteration:
                break
        if n < 0:
            out, self.buf = self.buf, b""
        else:
            out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _inside(root: str, path: str) -> bool:
    real_root = os.path.realpath(root)
    real = os.path.realpath(os.path.dirname(path))
    return real == real_root or real.startswith(real_root + os.sep)


def _count(outcome: list[int], member: tarfile.TarInfo) -> None:
    if not member.isdir():
        outcome[0] += 1
        if member.isreg():
            outcome[1] += member.size


def _extract(chunks: Any, src_name: str, dest: str, rename: str | None, archive: bool) -> list[int]:
    """Unpack the engine's archive (entries under `src_name`) into directory `dest`,
    the top entry renamed to `rename` when given; nothing lands outside `dest`.
    [files, bytes] unpacked."""
    counts = [0, 0]
    with tarfile.open(fileobj=StreamReader(chunks), mode="r|") as tar:
        for member in tar:
            name = member.name.lstrip("/")
            parts = [p for p in name.split("/") if p not in ("", ".")]
            if ".." in parts:
                raise TuidockError(f"the engine's archive has an unsafe path: {member.name}")
            if rename is not None and parts and parts[0] == src_name:
                parts[0] = rename
            if not parts:
                continue
            member.name = "/".join(parts)
            target = os.path.join(dest, member.name)
            if not _inside(dest, target):
                raise TuidockError(f"the engine's archive leaves the destination: {member.name}")
            if member.islnk():
                link = member.linkname.lstrip("/").split("/")
                if rename is not None and link and link[0] == src_name:
                    link[0] = rename
                member.linkname = "/".join(link)
            if member.isdev() and os.geteuid() != 0:
                continue
            tar.extract(member, dest, set_attrs=True, numeric_owner=archive)
            _count(counts, member)
    return counts


def _extract_contents(chunks: Any, src_name: str, dest: str, archive: bool) -> list[int]:
    import tempfile

    with tempfile.TemporaryDirectory(dir=dest, prefix=".tuidock-cp-") as tmp:
        # Docker names "SRC/." in the archive "." (its entries "./a"), not SRC's name.
        bare = src_name in ("", ".")
        counts = _extract(chunks, src_name, tmp, None if bare else "x", archive)
        top = tmp if bare else os.path.join(tmp, "x")
        for entry in os.listdir(top):
            os.replace(os.path.join(top, entry), os.path.join(dest, entry))
    return counts


def copy_out(
    backend: DockerBackend, cid: str, src: str, dest: str, archive: bool = False
) -> CopyOutcome:
    """Container path `src` to the host path `dest` (docker cp CONTAINER:SRC DEST)."""
    api = backend.api()
    with _errors(backend):
        chunks, stat = api.get_archive(cid, src)
    src_name = stat.get("name") or os.path.basename(src.rstrip("/")) or "/"
    contents_only = src.endswith("/.")
    landing = copy_landing(src, dest, os.path.isdir(dest))
    made = None
    if os.path.isdir(dest):
        target_dir, rename = dest, (None if not contents_only else "")
    else:
        if dest.endswith("/"):
            raise TuidockError(f'destination directory "{dest}" must exist')
        if os.path.exists(dest) and is_dir(stat):
            raise TuidockError("cannot copy a directory to a file")
        target_dir = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(target_dir):
            raise TuidockError(f"no such directory: {target_dir}")
        rename = os.path.basename(dest)
        if contents_only:
            os.mkdir(dest)
            made = dest
            target_dir, rename = dest, ""
    try:
        with _errors(backend):
            if rename == "":
                # "SRC/.": the directory's contents go into the destination itself.
                files, size = _extract_contents(chunks, src_name, target_dir, archive)
            else:
                files, size = _extract(chunks, src_name, target_dir, rename, archive)
    except BaseException:
        if made is not None:
            import shutil

            shutil.rmtree(made, ignore_errors=True)  # made for this copy: nothing stays
        raise
    return CopyOutcome(files, size, landing)


def copy_in(
    backend: DockerBackend, cid: str, src: str, dest: str, archive: bool = False
) -> CopyOutcome:
    """Host path `src` into the container path `dest` (docker cp SRC CONTAINER:DEST)."""
    import io

    if not os.path.lexists(src):
        raise TuidockError(f"could not find the file {src} in the local filesystem")
    stat = path_stat(backend, cid, dest)
    if stat is not None and is_dir(stat):
        where, arcname = dest, os.path.basename(os.path.normpath(src))
    else:
        if stat is None and dest.endswith("/"):
            raise TuidockError(f'destination directory "{dest}" must exist')
        if stat is not None and os.path.isdir(src):
            raise TuidockError("cannot copy a directory to a file")
        where, arcname = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest)
    counts = [0, 0]

    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if not archive:
            # As docker cp: files belong to the container's root unless -a.
            info.uid = info.gid = 0
            info.uname = info.gname = ""
        _count(counts, info)
        return info

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        if src.endswith("/.") and os.path.isdir(src):
            for entry in sorted(os.listdir(src)):
                tar.add(os.path.join(src, entry), arcname=f"{arcname}/{entry}", filter=owner)
        else:
            tar.add(src, arcname=arcname, filter=owner)
    api = backend.api()
    with _errors(backend):
        api.put_archive(cid, where, buf.getvalue())
    landing = copy_landing(src, dest, stat is not None and is_dir(stat))
    return CopyOutcome(counts[0], counts[1], landing)
