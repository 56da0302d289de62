"""Outbound NAT: a container reaches an "outside" host with the host's address.

No internet: the test makes an "outside" network namespace joined to the host
by a veth pair with addresses in a test-only /30 of 198.18.0.0/15 (RFC 2544
benchmarking space). A tiny HTTP server there answers with the peer address it
sees. The outside namespace has no route to the bridge's subnet, so a reply
arrives only if the container's connection was masqueraded to the host's side
of the /30. After rm, no rule of the test's bridge is left in `table ip tuidock`.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from clihelp import tuidock
from containerhelp import image_fixture, no_leftovers_fixture
from netnshelp import in_netns

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name

PID = os.getpid()
BRIDGE = f"tdat{PID:x}"  # this session's default bridge (15 chars at most)
HOST_VETH, OUT_VETH = f"tdo{PID:x}", f"tdp{PID:x}"
IP_FORWARD = Path("/proc/sys/net/ipv4/ip_forward")


def _free(pool: Iterator[ipaddress.IPv4Network]) -> ipaddress.IPv4Network:
    from tuidock.runtime.network.hostroutes import first_free

    found = first_free(pool, [])
    assert found is not None, "no free test subnet"
    return found


SUBNET = _free(ipaddress.IPv4Network(f"10.92.{(PID + i) % 256}.0/24") for i in range(256))
OUTSIDE = _free(
    ipaddress.IPv4Network(f"198.18.{(PID + i) % 256}.{4 * (PID % 64)}/30") for i in range(256)
)
HOST_SIDE, OUT_SIDE = (str(a) for a in OUTSIDE.hosts())


def ok(*args: str) -> str:
    res = tuidock(*args)
    assert res.code == 0, (args, res.code, res.out, res.err)
    return res.out


def _our_rules() -> list[str]:
    """Rules of `table ip tuidock` that name this session's bridge."""
    res = subprocess.run(
        ["nft", "list", "table", "ip", "tuidock"], capture_output=True, text=True, check=False
    )
    return [ln.strip() for ln in res.stdout.splitlines() if f'"{BRIDGE}"' in ln]


@pytest.fixture
def outside(tuidock_root: Path) -> Iterator[tuple[str, int]]:
    """(address, port) of a peer-reporting HTTP server in an "outside" netns."""
    from tuidock.runtime.network import links

    netns = str(tuidock_root / "outside-netns")
    links.create_netns(netns)
    try:
        with links.IPRoute() as ipr:
            ipr.link("add", ifname=HOST_VETH, kind="veth", peer={"ifname": OUT_VETH})
            peer = ipr.link_lookup(ifname=OUT_VETH)[0]
            ipr.link("set", index=peer, net_ns_fd=netns)
            host = ipr.link_lookup(ifname=HOST_VETH)[0]
            ipr.addr("add", index=host, address=HOST_SIDE, prefixlen=30)
            ipr.link("set", index=host, state="up")
        with links.IPRoute(netns=netns) as ns:
            idx = ns.link_lookup(ifname=OUT_VETH)[0]
            ns.addr("add", index=idx, address=OUT_SIDE, prefixlen=30)
            ns.link("set", index=idx, state="up")
            # Deliberately no route to the containers' subnet: only NAT gets replies back.

        def make() -> socket.socket:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((OUT_SIDE, 0))
            s.listen(8)
            return s

        server = in_netns(netns, make)
        threading.Thread(target=_serve_peer, args=(server,), daemon=True).start()
        try:
            yield OUT_SIDE, server.getsockname()[1]
        finally:
            server.close()
    finally:
        with links.IPRoute() as ipr, contextlib.suppress(links.NetlinkError):
            ipr.link("del", ifname=HOST_VETH)
        links.remove_netns(netns)


def _serve_peer(server: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while True:
            conn, peer = server.accept()
            with conn:
                conn.settimeout(5)
                with contextlib.suppress(OSError):
                    conn.recv(4096)
                    conn.sendall(b"HTTP/1.0 200 OK\r\n\r\npeer=" + peer[0].encode() + b"\n")


@pytest.fixture(autouse=True)
def own_bridge(monkeypatch: pytest.MonkeyPatch, tuidock_root: Path) -> Iterator[None]:
    monkeypatch.setenv("TUIDOCK_BRIDGE", BRIDGE)
    monkeypatch.setenv("TUIDOCK_BRIDGE_SUBNET", str(SUBNET))
    assert _our_rules() == []
    yield
    cdir = tuidock_root / "containers"
    ids = [p.name for p in cdir.iterdir() if len(p.name) == 64] if cdir.is_dir() else []
    if ids:
        tuidock("rm", "-f", *ids)
    assert _our_rules() == [], "NAT rules left behind"
    assert not os.path.exists(f"/sys/class/net/{BRIDGE}")


def test_container_reaches_outside_masqueraded(image: str, outside: tuple[str, int]) -> None:
    addr, port = outside
    cid = ok("run", "-d", image, "sleep", "60").strip()
    rules = _our_rules()
    assert len(rules) == 3, rules  # masquerade, forward out, forward back in
    assert any(f"ip saddr {SUBNET}" in r and "masquerade" in r for r in rules), rules
    out = ok("exec", cid, "wget", "-qO-", f"http://{addr}:{port}/")
    assert out.strip() == f"peer={HOST_SIDE}"  # the host's address, not the container's
    assert BRIDGE in json.loads(ok("info", "--format", "{{json .Network}}"))["NATBridges"]
    ok("rm", "-f", cid)
    assert _our_rules() == []


def test_rules_go_after_monitor_sigkill(image: str) -> None:
    import signal

    from containerhelp import monitors_of, wait_for

    cid = ok("run", "-d", image, "sleep", "60").strip()
    assert len(_our_rules()) == 3
    (mon,) = monitors_of(cid)
    os.kill(mon, signal.SIGKILL)
    wait_for(lambda: not monitors_of(cid), what="the monitor to die")
    ok("ps", "-a")  # reconciles: the bridge, and with it its rules, go
    assert _our_rules() == []


def test_ip_forward_set_reported_and_restored(image: str) -> None:
    """ip_forward 0: the first bridge sets it to 1 and `info` says so; the last one
    going sets it back. Only if no other tuidock bridge is up (it would keep it)."""
    from tuidock.runtime.network import nat

    if nat._records_quick():
        pytest.skip("another tuidock bridge is up on this host")
    before = IP_FORWARD.read_text()
    try:
        IP_FORWARD.write_text("0\n")
        cid = ok("run", "-d", image, "sleep", "60").strip()
        assert IP_FORWARD.read_text().strip() == "1"
        info = ok("info")
        assert "IPv4 Forwarding: enabled - set by tuidock" in info, info
        ok("rm", "-f", cid)
        assert IP_FORWARD.read_text().strip() == "0"
        assert "IPv4 Forwarding: disabled" in ok("info")
    finally:
        IP_FORWARD.write_text(before)


def test_forward_drop_policy_is_reported() -> None:
    """A forward-hook chain with policy drop (as Docker installs) shows in `info`.
    Made in a network namespace of the test's own (nftables tables are per netns):
    on the host it would stop forwarding for everyone while it exists."""
    import sys

    py = sys.executable
    script = (
        "table ip dropper { chain dropall { type filter hook forward priority 10; policy drop; }; }"
    )
    res = subprocess.run(
        ["unshare", "--net", "--", "sh", "-c", 'nft -f - && exec "$0" -m tuidock info', py],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    assert "forward chain 'ip dropper dropall' has policy drop" in res.stdout, res.stdout


def test_stale_record_is_dropped(image: str) -> None:
    """A record whose bridge is gone (its process died between deleting the bridge
    and updating the table) is dropped, with its rules, at the next change."""
    from tuidock.runtime.network import nat

    gone = f"tdg{PID:x}"
    nat.RECORDS.mkdir(parents=True, exist_ok=True)
    (nat.RECORDS / gone).write_text("10.93.0.0/24\n")  # the state such a crash leaves
    try:
        cid = ok("run", "-d", image, "sleep", "60").strip()
        assert not (nat.RECORDS / gone).exists()
        res = subprocess.run(["nft", "list", "table", "ip", "tuidock"], capture_output=True)
        assert gone.encode() not in res.stdout and BRIDGE.encode() in res.stdout
        ok("rm", "-f", cid)
    finally:
        (nat.RECORDS / gone).unlink(missing_ok=True)
        for d in (nat.RECORDS, nat.STATE_DIR):  # only if empty: others' records stay
            with contextlib.suppress(OSError):
                d.rmdir()
