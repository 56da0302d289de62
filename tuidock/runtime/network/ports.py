"""Published ports: `-p`/`-P` parsing (ranges too) and the userland proxy.

Why a userland proxy and not iptables/nftables DNAT: with no daemon, a rule
outlives a monitor killed by SIGKILL until some later command notices; a
proxy is a process, and the kernel closes its sockets when it dies (it gets
SIGKILL with its monitor through PR_SET_PDEATHSIG), so nothing can be left
behind. It also needs neither ip_forward nor route_localnet to serve
127.0.0.1, so no host-wide setting is touched. The cost is a copy through
user space per byte and that the container sees connections coming from the
bridge's address instead of the client's (Docker's docker-proxy has the same
trait for loopback clients).

The proxy is a child forked from the monitor before the container starts
(so it is in the host's network, pid and mount namespaces), runs asyncio,
and reports the ports it bound (host port 0 = an ephemeral one) over a pipe.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import re
import signal
import socket
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

from tuidock.errors import UsageError

_SPEC_RE = re.compile(
    r"^(?:(?P<ip>\d+\.\d+\.\d+\.\d+|\[[0-9a-fA-F:]*\]|):)??"
    r"(?:(?P<host>[\d-]*):)?(?P<ctr>\d+(?:-\d+)?)(?:/(?P<proto>tcp|udp))?$"
)
UDP_IDLE = 60.0


@dataclass
class PortMapping:
    container_port: int
    protocol: str = "tcp"
    host_ip: str = ""
    host_port: int = 0  # 0: the kernel picks one
    # -p 8000-8010:80: the first free port of host_port..host_port_end (Docker's rule)
    host_port_end: int = 0

    def to_dict(self) -> dict:
        return asdict(self)


def _port(text: str, what: str, allow_zero: bool = False) -> int:
    value = int(text)
    if not (allow_zero and value == 0) and not 0 < value < 65536:
        raise UsageError(f"invalid {what} port: {text}")
    return value


def _port_range(text: str, what: str, allow_zero: bool = False) -> tuple[int, int]:
    """ "80" or "80-81" -> (first, last)."""
    first, dash, last = text.partition("-")
    if not first.isdigit() or (dash and not last.isdigit()):
        raise UsageError(f"invalid {what} port: {text}", "Use PORT or START-END.")
    lo = _port(first, what, allow_zero)
    hi = _port(last, what) if dash else lo
    if hi < lo:
        raise UsageError(f"invalid {what} port range: {text} (end before start)")
    return lo, hi


def parse_publish(spec: str) -> list[PortMapping]:
    """`[ip:][hostPort[-end]:]containerPort[-end][/tcp|udp]`, Docker's -p: one mapping
    per container port. Ranges pair up port by port and must have the same size,
    except that one container port may take the first free port of a host range."""
    m = _SPEC_RE.match(spec.strip())
    if not m:
        raise UsageError(
            f"invalid publish spec: {spec!r}",
            "Use [ip:][hostPort[-end]:]containerPort[-end][/tcp|udp].",
        )
    ip = (m.group("ip") or "").strip("[]")
    if ip:
        try:
            socket.inet_pton(socket.AF_INET6 if ":" in ip else socket.AF_INET, ip)
        except OSError:
            raise UsageError(f"invalid IP address in publish spec: {spec!r}") from None
    proto = m.group("proto") or "tcp"
    ctr, host = m.group("ctr"), m.group("host") or ""
    c_lo, c_hi = _port_range(ctr, "container")
    h_lo, h_hi = _port_range(host, "host", allow_zero=True) if host else (0, 0)
    if host and h_hi - h_lo != c_hi - c_lo:
        if c_hi != c_lo:
            raise UsageError(
                f"Invalid ranges specified for container and host Ports: {ctr} and {host}",
                "Give ranges of the same size, e.g. 8000-8001:80-81.",
            )
        return [PortMapping(c_lo, proto, ip, h_lo, h_hi)]
    return [
        PortMapping(port, proto, ip, h_lo + i if host else 0)
        for i, port in enumerate(range(c_lo, c_hi + 1))
    ]


def exposed_ports(exposed: dict) -> list[PortMapping]:
    """-P: every EXPOSEd port ("80/tcp" keys) on an ephemeral host port."""
    out = []
    for key in exposed or {}:
        port, _, proto = key.partition("/")
        if port.isdigit():
            out.append(PortMapping(int(port), proto or "tcp"))
    return out


def port_bindings(mappings: list[PortMapping]) -> dict:
    """HostConfig.PortBindings as Docker writes it ("" host port: an ephemeral one)."""
    out: dict[str, list] = {}
    for m in mappings:
        host = str(m.host_port) if m.host_port else ""
        if m.host_port_end:
            host += f"-{m.host_port_end}"
        out.setdefault(f"{m.container_port}/{m.protocol}", []).append(
            {"HostIp": m.host_ip, "HostPort": host}
        )
    return out


def format_port(p: dict) -> str:
    """`80/tcp -> 0.0.0.0:8080`, as `docker port` prints it."""
    ip = p["host_ip"] or "0.0.0.0"
    return f"{p['container_port']}/{p['protocol']} -> {ip}:{p['host_port']}"


# -- the proxy process ---------------------------------------------------------------


def start_proxy(container_ip: str, mappings: list[dict], comm: str) -> tuple[int, list[dict]]:
    """Fork the proxy; (its pid, the mappings with the host ports actually bound)."""
    r, w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            os.close(r)
            # Its own name in ps/top (it would otherwise be taken for the monitor).
            with contextlib.suppress(OSError), open("/proc/self/comm", "w") as f:
                f.write(comm[:15])
            _child(container_ip, mappings, w)
            code = 0
        finally:
            os._exit(code)
    os.close(w)
    with os.fdopen(r, "rb") as f:
        line = f.readline()
    try:
        reply = json.loads(line)
    except ValueError:
        reply = {"error": "the port proxy exited before binding"}
    if "error" in reply:
        stop_proxy(pid)
        raise UsageError(f"cannot publish ports: {reply['error']}")
    return pid, reply["ports"]


def stop_proxy(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, 0)


def _child(container_ip: str, mappings: list[dict], ready_w: int) -> None:
    import ctypes

    # Die with the monitor, even by SIGKILL: the kernel then closes our sockets.
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() == 1:
        return  # the monitor is already gone
    # Nothing of the monitor's (status pipe, attach sockets, locks) stays open here.
    os.closerange(0, ready_w)
    os.closerange(ready_w + 1, 65536)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        if fd != devnull:
            os.dup2(devnull, fd)
    # The monitor's wakeup fd number is closed (or reused) here: unset it.
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    import asyncio

    asyncio.run(_serve(container_ip, mappings, ready_w))


async def _serve(container_ip: str, mappings: list[dict], ready_w: int) -> None:
    import asyncio

    loop = asyncio.get_running_loop()
    bound = []
    keep: list[object] = []
    try:
        for m in mappings:
            sock = _bind(m)
            if m["protocol"] == "tcp":
                target = (container_ip, m["container_port"])
                server = await asyncio.start_server(
                    lambda r, w, t=target: _tcp_client(r, w, t), sock=sock, backlog=128
                )
                keep.append(server)
            else:
                transport, _ = await loop.create_datagram_endpoint(
                    lambda t=(container_ip, m["container_port"]): _UdpFront(t), sock=sock
                )
                keep.append(transport)
            bound.append({**m, "host_port": sock.getsockname()[1], "host_port_end": 0})
    except OSError as exc:
        ports = str(m["host_port"])
        if m.get("host_port_end"):
            ports += f"-{m['host_port_end']}"
        where = f"{m['host_ip'] or '0.0.0.0'}:{ports}/{m['protocol']}"
        os.write(ready_w, json.dumps({"error": f"{where}: {exc.strerror}"}).encode() + b"\n")
        return
    os.write(ready_w, json.dumps({"ports": bound}).encode() + b"\n")
    os.close(ready_w)
    await asyncio.Event().wait()  # until SIGKILL


def _bind(m: dict) -> socket.socket:
    """A socket bound for mapping `m`; with a host range, on its first free port."""
    host_ip = m["host_ip"] or "0.0.0.0"
    family = socket.AF_INET6 if ":" in host_ip else socket.AF_INET
    kind = socket.SOCK_STREAM if m["protocol"] == "tcp" else socket.SOCK_DGRAM
    last = m.get("host_port_end") or m["host_port"]
    for port in range(m["host_port"], last + 1):
        sock = socket.socket(family, kind)
        if kind == socket.SOCK_STREAM:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host_ip, port))
            return sock
        except OSError as exc:
            sock.close()
            if exc.errno != errno.EADDRINUSE or port == last:
                raise
    raise AssertionError("unreachable: the loop returns or raises")


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # half-close: the other direction may still be talking
    except (ConnectionError, OSError):
        writer.close()


async def _tcp_client(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: tuple[str, int]
) -> None:
    import asyncio

    try:
        up_r, up_w = await asyncio.open_connection(*target)
    except OSError:
        writer.close()
        return
    try:
        await asyncio.gather(_pipe(reader, up_w), _pipe(up_r, writer))
    finally:
        up_w.close()
        writer.close()


class _UdpFront:
    """One connected socket to the container per client address, as docker-proxy does,
    so replies find their way back; idle ones are dropped after UDP_IDLE seconds."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.transport: asyncio.DatagramTransport | None = None
        self.backs: dict[tuple, list] = {}

    def connection_made(self, transport: asyncio.DatagramTransport) -> None:  # type: ignore[override]
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        import asyncio

        entry = self.backs.get(addr)
        if entry is None:
            loop = asyncio.get_running_loop()
            sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            sock.setblocking(False)
            sock.connect(self.target)
            entry = [sock, time.monotonic()]
            self.backs[addr] = entry
            loop.add_reader(sock.fileno(), self._reply, addr)
            if len(self.backs) == 1:
                loop.call_later(UDP_IDLE, self._expire)
        entry[1] = time.monotonic()
        with contextlib.suppress(OSError):
            entry[0].send(data)

    def _reply(self, addr: tuple) -> None:
        entry = self.backs.get(addr)
        if entry is None:
            return
        try:
            data = entry[0].recv(65536)
        except OSError:
            return
        entry[1] = time.monotonic()
        self.transport.sendto(data, addr)  # type: ignore[union-attr]

    def _expire(self) -> None:
        import asyncio

        loop = asyncio.get_running_loop()
        now = time.monotonic()
        for addr, (sock, last) in list(self.backs.items()):
            if now - last > UDP_IDLE:
                loop.remove_reader(sock.fileno())
                sock.close()
                del self.backs[addr]
        if self.backs:
            loop.call_later(UDP_IDLE, self._expire)

    def error_received(self, exc: Exception) -> None:
        pass

    def connection_lost(self, exc: Exception | None) -> None:
        pass
