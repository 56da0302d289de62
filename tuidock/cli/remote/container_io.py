"""logs, attach, cp and export on a Docker/Podman engine.

Streams come over the Engine API as the docker CLI gets them: a container
without a TTY sends 8-byte-headed frames (byte 0: 1 stdout, 2 stderr), split
here onto our stdout and stderr (backends/dockerexec.py `pump_frames`, also exec's); with a TTY the
bytes are raw and an attach -it goes through backends/dockerexec.py's relay
(raw terminal, SIGWINCH -> resize; the daemon itself watches the detach keys).
cp moves tar streams with get_archive/put_archive: backends/dockercopy.py
(the UI's too) unpacks a copy out, every member checked to stay under the
destination; the "-" forms stream the tar here.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from typing import TYPE_CHECKING, Any

from tuidock.backends.dockerattach import FrameSplitter
from tuidock.backends.dockerexec import pump_frames, write_frames
from tuidock.cli.commands.container_io import parse_since, parse_tail, split_container_path
from tuidock.errors import NotFound, TuidockError, UsageError
from tuidock.runtime.container.exec.relay import write_all

if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend


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
            from tuidock.cli.remote.container_run import detach_bytes

            keys = detach_bytes(args.detach_keys) if stdin else None
            resize = lambda h, w: api.resize(cid, height=h, width=w)  # noqa: E731
            if relay(sock, resize, stdin_open=stdin, detach=keys):
                return 0  # detached (the keys, watched here: Podman passes them on)
        else:
            proxy = args.sig_proxy == "true" and not tty
            forward = {s: (lambda n: api.kill(cid, n)) for s in PROXIED} if proxy else None
            pump_frames(sock, tty, stdin, forward)
    except OSError:
        pass  # the connection dropped: the state below says what became of the container
    finally:
        sock.close()
    if stdin and _still_running(backend, cid):
        return 0  # detached (the detach keys): the container runs on
    # Without stdin there are no detach keys: the stream ended because the
    # process did, though the engine (Podman) may record the exit a moment later.
    with _api_errors(backend):
        return int(api.wait(cid).get("StatusCode") or 0)


def _still_running(backend: DockerBackend, cid: str, settle: float = 0.3) -> bool:
    """Whether the container still runs once the attach stream has ended.

    Podman closes the stream a moment before its state says "exited", so a
    running state is read again over `settle` seconds before it counts as a
    detach."""
    deadline = time.monotonic() + settle
    while True:
        if not (_inspect(backend, cid).get("State") or {}).get("Running"):
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(0.05)


# -- cp -------------------------------------------------------------------------------------


def _copy_out(backend: DockerBackend, cid: str, src: str, dest: str, args) -> None:
    from tuidock.backends import dockercopy

    if dest != "-":
        dockercopy.copy_out(backend, cid, src, dest, args.archive)
        return
    if sys.stdout.isatty():
        raise UsageError("cowardly refusing to write a tar archive to a terminal")
    api = backend.api()
    with _api_errors(backend):
        chunks, _stat = api.get_archive(cid, src)
    sys.stdout.flush()
    with _api_errors(backend):
        for chunk in chunks:
            write_all(1, chunk)


def _copy_in(backend: DockerBackend, cid: str, src: str, dest: str, args) -> None:
    from tuidock.backends import dockercopy

    if src != "-":
        dockercopy.copy_in(backend, cid, src, dest, args.archive)
        return
    data = sys.stdin.buffer.read()
    with _api_errors(backend):
        backend.api().put_archive(cid, dest, data)


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
