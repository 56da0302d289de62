"""logs, attach, cp and export on a Docker/Podman engine.

Streams come over the Engine API as the docker CLI gets them: a container
without a TTY sends 8-byte-headed frames (byte 0: 1 stdout, 2 stderr), split
here onto our stdout and stderr (`pump_frames`, also exec's); with a TTY the
bytes are raw and an attach -it goes through backends/dockerexec.py's relay
(raw terminal, SIGWINCH -> resize; the daemon itself watches the detach keys).
cp moves tar streams with get_archive/put_archive; a copy out is unpacked
here, every member checked to stay under the destination.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import sys
from typing import TYPE_CHECKING, Any

from tuidock.backends.dockerattach import FrameSplitter
from tuidock.cli.commands.container_io import parse_since, parse_tail, split_container_path
from tuidock.errors import NotFound, TuidockError, UsageError
from tuidock.runtime.container.exec.relay import write_all

if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend


def _raw_socket(sock: Any) -> Any:
    """The socket object under the SDK's hijacked response, whichever transport."""
    return getattr(sock, "_sock", sock)


def _recv(target: Any) -> bytes:
    if hasattr(target, "recv"):
        return target.recv(65536)
    return os.read(target.fileno(), 65536)


def _send(target: Any, data: bytes) -> None:
    if hasattr(target, "sendall"):
        target.sendall(data)
    else:
        write_all(target.fileno(), data)


def _close_write(target: Any) -> None:
    import socket

    try:
        target.shutdown(socket.SHUT_WR)
    except (OSError, AttributeError):
        pass


def write_frames(frames: list[tuple[int, bytes]]) -> None:
    for stream, payload in frames:
        write_all(2 if stream == 2 else 1, payload)


def pump_frames(sock: Any, raw: bool, stdin: bool, on_signal: Any = None) -> None:
    """Relay a hijacked attach/exec stream until its output ends: frames to our stdout
    and stderr, our stdin (when `stdin`) to it, its write side closed at our EOF.
    Signals in `on_signal` ({signum: fn}) are handled between reads."""
    target = _raw_socket(sock)
    splitter = FrameSplitter(raw)
    in_fd = sys.stdin.fileno() if stdin else None
    wake_r, wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    old_wakeup = signal.set_wakeup_fd(wake_w)
    pending: list[int] = []
    saved = {s: signal.signal(s, lambda n, _f: pending.append(n)) for s in on_signal or {}}
    sys.stdout.flush()
    try:
        if in_fd is not None and not _pollable(in_fd):
            # A regular file or /dev/null cannot be polled: send it all now.
            _send(target, sys.stdin.buffer.read())
            _close_write(target)
            in_fd = None
        while True:
            if hasattr(target, "pending") and target.pending():
                ready = [target]  # TLS: bytes already decrypted wait in the SSL object
            else:
                fds = [target, wake_r] + ([in_fd] if in_fd is not None else [])
                ready, _, _ = select.select(fds, [], [])
            if wake_r in ready:
                os.read(wake_r, 512)
                for signum in pending:
                    on_signal[signum](signum)
                pending.clear()
            if target in ready:
                data = _recv(target)
                if not data:
                    return
                write_frames(splitter.feed(data))
            if in_fd is not None and in_fd in ready:
                data = os.read(in_fd, 65536)
                if data:
                    _send(target, data)
                else:
                    in_fd = None
                    _close_write(target)
    finally:
        for s, h in saved.items():
            signal.signal(s, h)
        signal.set_wakeup_fd(old_wakeup)
        os.close(wake_r)
        os.close(wake_w)


def _pollable(fd: int) -> bool:
    import stat

    mode = os.fstat(fd).st_mode
    return not (stat.S_ISREG(mode) or (stat.S_ISCHR(mode) and not os.isatty(fd)))


def _inspect(backend: DockerBackend, name: str) -> dict:
    try:
        return backend._call(backend.api().inspect_container, name)
    except NotFound:
        # The docker CLI's wording on a 404, for Docker and Podman alike.
        raise NotFound(f"No such container: {name}") from None


# -- logs ---------------------------------------------------------------------------------


def _api_time(text: str) -> str:
    """--since/--until as the docker CLI sends them: seconds.nanoseconds."""
    ts = parse_since(text)
    return f"{int(ts)}.{min(round((ts - int(ts)) * 1e9), 999_999_999):09d}"


def cmd_logs(args: argparse.Namespace, backend: DockerBackend) -> int:
    tail = parse_tail(args.tail)
    params: dict[str, Any] = {
        "stdout": 1,
        "stderr": 1,
        "follow": int(args.follow),
        "timestamps": int(args.timestamps),
        "tail": "all" if tail is None else str(tail),
    }
    if args.since:
        params["since"] = _api_time(args.since)
    if args.until:
        params["until"] = _api_time(args.until)
    info = _inspect(backend, args.container)
    api = backend.api()
    # The SDK's logs() drops which stream a frame came from: read the frames here.
    with _api_errors(backend):
        res = api._get(api._url("/containers/{0}/logs", info["Id"]), params=params, stream=True)
        api._raise_for_status(res)
        splitter = FrameSplitter(bool(info["Config"].get("Tty")))
        sys.stdout.flush()
        try:
            for chunk in res.iter_content(chunk_size=None):
                write_frames(splitter.feed(chunk))
        finally:
            res.close()
    return 0


def _api_errors(backend: DockerBackend):
    from tuidock.backends.docker import api_errors

    return api_errors(backend.location)


# -- attach -------------------------------------------------------------------------------


def cmd_attach(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.runtime.container.exec.plan import PROXIED

    info = _inspect(backend, args.container)
    cid, config = info["Id"], info["Config"]
    state = info.get("State") or {}
    if not state.get("Running"):
        raise TuidockError("You cannot attach to a stopped container, start it first")
    if state.get("Paused"):
        raise TuidockError("You cannot attach to a paused container, unpause it first")
    tty = bool(config.get("Tty"))
    stdin = not args.no_stdin and bool(config.get("OpenStdin"))
    params = {"stdin": int(stdin), "stdout": 1, "stderr": 1, "stream": 1}
    if args.detach_keys:
        params["detachKeys"] = args.detach_keys
    api = backend.api()
    with _api_errors(backend):
        sock = api.attach_socket(cid, params=params)
    try:
        if tty and os.isatty(sys.stdin.fileno()):
            from tuidock.backends.dockerexec import relay

            relay(sock, lambda h, w: api.resize(cid, height=h, width=w), stdin_open=stdin)
        else:
            proxy = args.sig_proxy == "true" and not tty
            forward = {s: (lambda n: api.kill(cid, n)) for s in PROXIED} if proxy else None
            pump_frames(sock, tty, stdin, forward)
    except OSError:
        pass  # the connection dropped: the state below says what became of the container
    finally:
        sock.close()
    after = _inspect(backend, cid).get("State") or {}
    if after.get("Running"):
        return 0  # detached (the detach keys): the container runs on
    with _api_errors(backend):
        return int(api.wait(cid).get("StatusCode") or 0)


# -- cp -------------------------------------------------------------------------------------


def _path_stat(backend: DockerBackend, cid: str, path: str) -> dict | None:
    """The engine's stat of a path in the container (the archive endpoint's HEAD), or None."""
    import base64
    import json

    api = backend.api()
    with _api_errors(backend):
        res = api.head(api._url("/containers/{0}/archive", cid), params={"path": path})
    if res.status_code == 404:
        return None
    with _api_errors(backend):
        api._raise_for_status(res)
    header = res.headers.get("X-Docker-Container-Path-Stat")
    return json.loads(base64.b64decode(header)) if header else {}


def _is_dir(stat: dict) -> bool:
    return bool(int(stat.get("mode") or 0) & (1 << 31))  # Go's os.ModeDir


class _StreamReader:
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


def _extract(chunks: Any, src_name: str, dest: str, rename: str | None, archive: bool) -> None:
    """Unpack the engine's archive (entries under `src_name`) into directory `dest`,
    the top entry renamed to `rename` when given; nothing lands outside `dest`."""
    import tarfile

    with tarfile.open(fileobj=_StreamReader(chunks), mode="r|") as tar:
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


def _copy_out(backend: DockerBackend, cid: str, src: str, dest: str, args) -> None:
    api = backend.api()
    with _api_errors(backend):
        chunks, stat = api.get_archive(cid, src)
    if dest == "-":
        if sys.stdout.isatty():
            raise UsageError("cowardly refusing to write a tar archive to a terminal")
        sys.stdout.flush()
        with _api_errors(backend):
            for chunk in chunks:
                write_all(1, chunk)
        return
    src_name = stat.get("name") or os.path.basename(src.rstrip("/")) or "/"
    contents_only = src.endswith("/.")
    if os.path.isdir(dest):
        target_dir, rename = dest, (None if not contents_only else "")
    else:
        if dest.endswith("/"):
            raise TuidockError(f'destination directory "{dest}" must exist')
        if os.path.exists(dest) and _is_dir(stat):
            raise TuidockError("cannot copy a directory to a file")
        target_dir = os.path.dirname(os.path.abspath(dest))
        if not os.path.isdir(target_dir):
            raise TuidockError(f"no such directory: {target_dir}")
        rename = os.path.basename(dest)
        if contents_only:
            os.makedirs(dest, exist_ok=True)
            target_dir, rename = dest, ""
    with _api_errors(backend):
        if rename == "":
            # "SRC/.": the directory's contents go into the destination itself.
            _extract_contents(chunks, src_name, target_dir, args.archive)
        else:
            _extract(chunks, src_name, target_dir, rename, args.archive)


def _extract_contents(chunks: Any, src_name: str, dest: str, archive: bool) -> None:
    import tempfile

    with tempfile.TemporaryDirectory(dir=dest, prefix=".tuidock-cp-") as tmp:
        _extract(chunks, src_name, tmp, "x", archive)
        top = os.path.join(tmp, "x")
        for entry in os.listdir(top):
            os.replace(os.path.join(top, entry), os.path.join(dest, entry))


def _copy_in(backend: DockerBackend, cid: str, src: str, dest: str, args) -> None:
    import io
    import tarfile

    api = backend.api()
    if src == "-":
        data = sys.stdin.buffer.read()
        with _api_errors(backend):
            api.put_archive(cid, dest, data)
        return
    if not os.path.lexists(src):
        raise TuidockError(f"could not find the file {src} in the local filesystem")
    stat = _path_stat(backend, cid, dest)
    if stat is not None and _is_dir(stat):
        where, arcname = dest, os.path.basename(os.path.normpath(src))
    else:
        if stat is None and dest.endswith("/"):
            raise TuidockError(f'destination directory "{dest}" must exist')
        if stat is not None and os.path.isdir(src):
            raise TuidockError("cannot copy a directory to a file")
        where, arcname = os.path.dirname(dest.rstrip("/")) or "/", os.path.basename(dest)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:

        def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
            if not args.archive:
                # As docker cp: files belong to the container's root unless -a.
                info.uid = info.gid = 0
                info.uname = info.gname = ""
            return info

        if src.endswith("/.") and os.path.isdir(src):
            for entry in sorted(os.listdir(src)):
                tar.add(os.path.join(src, entry), arcname=f"{arcname}/{entry}", filter=owner)
        else:
            tar.add(src, arcname=arcname, filter=owner)
    with _api_errors(backend):
        api.put_archive(cid, where, buf.getvalue())


def cmd_cp(args: argparse.Namespace, backend: DockerBackend) -> int:
    src_ctr, src_path = split_container_path(args.src)
    dst_ctr, dst_path = split_container_path(args.dest)
    if src_ctr and dst_ctr:
        raise UsageError("copying between containers is not supported")
    if not src_ctr and not dst_ctr:
        raise UsageError("must specify at least one container source")
    name = src_ctr or dst_ctr
    assert name is not None
    cid = _inspect(backend, name)["Id"]
    if src_ctr:
        _copy_out(backend, cid, src_path, dst_path, args)
    else:
        _copy_in(backend, cid, src_path, dst_path, args)
    return 0


# -- export ------------------------------------------------------------------------------


def cmd_export(args: argparse.Namespace, backend: DockerBackend) -> int:
    if not args.output and sys.stdout.isatty():
        raise UsageError("cowardly refusing to save to a terminal.", "Use the -o flag or redirect.")
    cid = _inspect(backend, args.container)["Id"]
    api = backend.api()
    if not args.output:
        sys.stdout.flush()
        with _api_errors(backend):
            for chunk in api.export(cid):
                write_all(1, chunk)
        return 0
    tmp = f"{args.output}.tuidock-{os.getpid()}"
    try:
        with open(tmp, "wb") as f, _api_errors(backend):
            for chunk in api.export(cid):
                f.write(chunk)
        os.replace(tmp, args.output)
    except OSError as exc:
        raise TuidockError(f"failed to export container: {exc.strerror}: {args.output}") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return 0
