"""Bridge networking with real containers through the CLI.

Traffic goes only to loopback and to the namespaces these tests create. The
tests use a bridge and subnet of their own (TUIDOCK_BRIDGE, _SUBNET), so a
developer's real `tdbr0` is never touched, and count links and netns files
before and after each test: nothing may be left behind.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from clihelp import assert_clean_error, tuidock
from containerhelp import image_fixture, monitors_of, no_leftovers_fixture, wait_for
from netnshelp import in_netns

__all__ = ["image_fixture", "no_leftovers_fixture"]  # fixtures, used by name


def _session_block() -> ipaddress.IPv4Network:
    """Eight /24s of 10.91.0.0/16 for this test session (its default bridge and its
    user networks), starting at a place derived from the pid and overlapping no
    route or address of the host, so two sessions on one machine do not collide
    (nor with data roots' default bridges, which stay in 10.89.0.0/16)."""
    from tuidock.runtime.network.hostroutes import first_free

    start = os.getpid() % 32
    blocks = (ipaddress.IPv4Network(f"10.91.{(start + i) % 32 * 8}.0/21") for i in range(32))
    block = first_free(blocks, [])
    assert block is not None, "no free /21 in 10.91.0.0/16 for the tests"
    return block


BRIDGE = f"tdt{os.getpid():x}"  # this session's default bridge
BLOCK = _session_block()
SUBNET, *USER_SUBNETS = BLOCK.subnets(new_prefix=24)


def _links() -> set[str]:
    """Our bridge and the links enslaved to it (other sessions' containers on the
    machine use other bridges; a leaked veth of ours would still be a port here)."""
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    names = set()
    for line in out.splitlines():
        name = line.split(":")[1].strip().split("@")[0]
        if name == BRIDGE or f" master {BRIDGE} " in line:
            names.add(name)
    return names


def _netns_files() -> set[str]:
    """Netns files live in the data root's runtime dir (one per running container)."""
    try:
        return set(os.listdir(Path(os.environ["TUIDOCK_ROOT"]) / "run" / "netns"))
    except FileNotFoundError:
        return set()


@pytest.fixture(autouse=True)
def own_bridge(monkeypatch: pytest.MonkeyPatch, tuidock_root: Path) -> Iterator[None]:
    """A bridge of the tests' own; after the test, no link or netns file of ours is left."""
    monkeypatch.setenv("TUIDOCK_BRIDGE", BRIDGE)
    monkeypatch.setenv("TUIDOCK_BRIDGE_SUBNET", str(SUBNET))
    assert _links() == set(), f"{BRIDGE} exists before the test"
    yield
    # no_leftovers (autouse, set up before us, torn down after us) removes the
    # containers; do it here first so the counts below see their teardown.
    cdir = tuidock_root / "containers"
    ids = [p.name for p in cdir.iterdir() if len(p.name) == 64] if cdir.is_dir() else []
    if ids:
        tuidock("rm", "-f", *ids)
    assert _links() == set(), "links left behind"
    assert _netns_files() == set(), "netns files left behind"
    assert not list((tuidock_root / "run" / "net").glob("*")), "endpoint records left"
    table = tuidock_root / "networks" / "bridge.ipam.json"
    if table.exists():
        assert json.loads(table.read_text()) == {}, "addresses not released"


def ok(*args: str) -> str:
    res = tuidock(*args)
    assert res.code == 0, (args, res.code, res.out, res.err)
    return res.out


def run_httpd(image: str, *extra: str, text: str = "hello from httpd") -> str:
    script = f"mkdir -p /www && echo '{text}' > /www/index.html && exec httpd -f -p 80 -h /www"
    return ok("run", "-d", *extra, image, "sh", "-c", script).strip()


def container_ip(cid: str, root: Path) -> str:
    return json.loads((root / "containers" / cid / "network.json").read_text())["IPAddress"]


def http_get(port: int) -> str:
    """A plain HTTP/1.0 GET to 127.0.0.1:port (the only host address tests talk to)."""
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
                data = b""
                while chunk := s.recv(65536):
                    data += chunk
            if data:
                return data.decode(errors="replace")
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"no HTTP answer on 127.0.0.1:{port}")
        time.sleep(0.1)


def test_eth0_address_mac_route_and_etc_files(image: str, tuidock_root: Path) -> None:
    out = ok(
        "run",
        "--rm",
        "--hostname",
        "web1",
        "--add-host",
        "db.example:10.1.2.3",
        "--dns",
        "192.0.2.53",
        image,
        "sh",
        "-c",
        "ip -4 -o addr show eth0; ip link show eth0; ip route; echo ==; cat /etc/hosts;"
        " echo ==; cat /etc/resolv.conf; echo ==; ls /sys/class/net",
    )
    addr_part, hosts, resolv, links = out.split("==\n")
    ip = addr_part.split("inet ")[1].split("/")[0]
    assert ipaddress.IPv4Address(ip) in SUBNET
    mac = "02:42:" + ":".join(f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed)
    assert mac in addr_part
    assert f"default via {SUBNET[1]} dev eth0" in addr_part
    assert f"{ip}\tweb1" in hosts
    assert "10.1.2.3\tdb.example" in hosts
    assert "nameserver 192.0.2.53" in resolv
    assert sorted(links.split()) == ["eth0", "lo"]


def test_resolv_conf_drops_loopback_servers() -> None:
    from tuidock.runtime.container import etcfiles

    text = etcfiles.resolv_conf("bridge", host_text="nameserver 127.0.0.53\nsearch lan\n")
    assert "127.0.0.53" not in text
    assert "nameserver 8.8.8.8" in text and "search lan" in text
    text = etcfiles.resolv_conf("bridge", host_text="nameserver 192.0.2.1\n")
    assert text == "nameserver 192.0.2.1\n"


def test_network_none_has_only_lo(image: str) -> None:
    out = ok("run", "--rm", "--network", "none", image, "ls", "/sys/class/net")
    assert out.split() == ["lo"]


def test_two_containers_talk_over_the_bridge(image: str, tuidock_root: Path) -> None:
    server = run_httpd(image, "--name", "web")
    ip = container_ip(server, tuidock_root)
    out = ok("run", "--rm", image, "sh", "-c", f"ping -c1 -W2 {ip} >/dev/null && wget -qO- {ip}")
    assert out == "hello from httpd\n"


def test_published_tcp_port_from_host_loopback(image: str, tuidock_root: Path) -> None:
    cid = run_httpd(image, "-p", "127.0.0.1::80", "-p", "80/tcp", text="published")
    lines = ok("port", cid).splitlines()
    assert len(lines) == 2 and all(line.startswith("80/tcp -> ") for line in lines), lines
    loop_port = int(ok("port", cid, "80").splitlines()[0].rsplit(":", 1)[1])
    any_port = int(lines[1].rsplit(":", 1)[1])
    assert lines[1].startswith("80/tcp -> 0.0.0.0:")
    for port in (loop_port, any_port):
        reply = http_get(port)
        assert reply.startswith("HTTP/1.") and "published" in reply, reply
    ok("stop", "-t", "1", cid)
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", loop_port), timeout=2).close()
    assert ok("port", cid) == ""


def _udp_echo_in_netns(netns_path: str, port: int) -> socket.socket:
    """A UDP echo server inside the container's network namespace (busybox has no
    UDP server). setns(CLONE_NEWNET) moves only the calling thread, and a socket
    stays in the namespace it was made in, so a helper thread makes it there."""

    def make() -> socket.socket:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("0.0.0.0", port))
        return s

    sock = in_netns(netns_path, make)

    def echo() -> None:
        with contextlib.suppress(OSError):
            while True:
                data, addr = sock.recvfrom(65536)
                sock.sendto(data.upper(), addr)

    threading.Thread(target=echo, daemon=True).start()
    return sock


def test_published_udp_port(image: str, tuidock_root: Path) -> None:
    cid = ok("run", "-d", "-p", "127.0.0.1::7777/udp", image, "sleep", "60").strip()
    port = int(ok("port", cid, "7777/udp").strip().rsplit(":", 1)[1])
    server = _udp_echo_in_netns(str(tuidock_root / "run" / "netns" / cid), 7777)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(5)
            for text in (b"ping", b"pong"):
                s.sendto(text, ("127.0.0.1", port))
                data, _ = s.recvfrom(100)
                assert data == text.upper()
    finally:
        server.close()


def _free_port_pair() -> int:
    """P such that 127.0.0.1:P and P+1 are free (TCP) right now."""
    for _ in range(50):
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
        return port
    raise AssertionError("no free pair of ports")


def test_published_port_ranges(image: str) -> None:
    script = (
        "mkdir -p /a /b && echo port80 > /a/index.html && echo port81 > /b/index.html"
        " && httpd -p 80 -h /a && exec httpd -f -p 81 -h /b"
    )
    port = _free_port_pair()
    spec = f"127.0.0.1:{port}-{port + 1}:80-81"
    cid = ok("run", "-d", "-p", spec, "-p", "127.0.0.1::80-81", image, "sh", "-c", script)
    cid = cid.strip()
    lines = ok("port", cid).splitlines()
    assert lines[:2] == [f"80/tcp -> 127.0.0.1:{port}", f"81/tcp -> 127.0.0.1:{port + 1}"]
    assert [ln.split(" ->")[0] for ln in lines[2:]] == ["80/tcp", "81/tcp"]
    for line, text in zip(lines, ["port80", "port81"] * 2, strict=True):
        assert text in http_get(int(line.rsplit(":", 1)[1]))
    assert ok("port", cid, "81/tcp").splitlines()[0] == f"127.0.0.1:{port + 1}"
    binding = json.loads(ok("inspect", cid))[0]["HostConfig"]["PortBindings"]
    assert binding["81/tcp"][0] == {"HostIp": "127.0.0.1", "HostPort": str(port + 1)}
    ok("rm", "-f", cid)

    # A host range for one container port: its first free port (Docker's rule).
    port = _free_port_pair()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", port))
        busy.listen(1)
        cid = run_httpd(image, "-p", f"127.0.0.1:{port}-{port + 1}:80", text="ranged")
        assert ok("port", cid, "80").strip() == f"127.0.0.1:{port + 1}"
        assert "ranged" in http_get(port + 1)
        ok("rm", "-f", cid)
        res = tuidock("run", "--rm", "-p", f"127.0.0.1:{port}:80", image, "true")
        assert_clean_error(res)
        assert "address already in use" in res.err.lower()
    res = tuidock("run", "--rm", "-p", "8000-8002:80-81", image, "true")
    assert_clean_error(res)
    assert "Invalid ranges specified for container and host Ports: 80-81 and 8000-8002" in res.err


def test_publish_needs_bridge_and_valid_spec(image: str) -> None:
    assert_clean_error(tuidock("run", "--rm", "--network", "none", "-p", "80", image, "true"))
    assert_clean_error(tuidock("run", "--rm", "-p", "99999:80", image, "true"))
    assert_clean_error(tuidock("run", "--rm", "--network", "nosuchnet", image, "true"))


def test_concurrent_runs_get_distinct_addresses(image: str, tuidock_root: Path) -> None:
    def one(_: int) -> str:
        return ok("run", "-d", image, "sleep", "60").strip()

    with ThreadPoolExecutor(6) as pool:
        ids = list(pool.map(one, range(6)))
    ips = [container_ip(c, tuidock_root) for c in ids]
    assert len(set(ips)) == 6, ips
    table = json.loads((tuidock_root / "networks" / "bridge.ipam.json").read_text())
    assert sorted(table.values()) == sorted(ids)
    ok("rm", "-f", *ids)
    assert json.loads((tuidock_root / "networks" / "bridge.ipam.json").read_text()) == {}


def test_requested_ip_and_conflict(image: str, tuidock_root: Path) -> None:
    want = str(SUBNET[77])
    cid = ok("run", "-d", "--ip", want, image, "sleep", "60").strip()
    assert container_ip(cid, tuidock_root) == want
    res = tuidock("run", "--rm", "--ip", want, image, "true")
    assert_clean_error(res)
    assert "already in use" in res.err
    ok("rm", "-f", cid)


def test_teardown_on_stop_restart_and_rm(image: str, tuidock_root: Path) -> None:
    links, netns = _links(), _netns_files()
    cid = ok("run", "-d", image, "sleep", "60").strip()
    assert f"td{cid[:8]}" in _links() and cid in _netns_files()
    ip = container_ip(cid, tuidock_root)
    ok("stop", "-t", "0", cid)
    assert _links() - links == set() and _netns_files() == netns
    ok("start", cid)
    assert f"td{cid[:8]}" in _links()
    assert container_ip(cid, tuidock_root) == ip  # the address is kept until rm
    ok("rm", "-f", cid)
    assert _links() - links == set() and _netns_files() == netns


def test_failed_start_leaves_nothing(image: str) -> None:
    links, netns = _links(), _netns_files()
    res = tuidock("run", "--rm", image, "/no/such/program")
    assert res.code == 127
    assert _links() - links == set() and _netns_files() == netns


def test_monitor_killed_then_ps_reconciles(image: str, tuidock_root: Path) -> None:
    links, netns = _links(), _netns_files()
    cid = run_httpd(image, "-p", "127.0.0.1::80")
    port = int(ok("port", cid, "80").strip().rsplit(":", 1)[1])
    assert "hello" in http_get(port)
    (mon,) = monitors_of(cid)
    os.kill(mon, signal.SIGKILL)
    wait_for(lambda: not monitors_of(cid), what="the monitor to die")
    ok("ps", "-a")
    assert _links() - links == set(), "veth left after reconcile"
    assert _netns_files() == netns, "netns left after reconcile"
    # The proxy died with its monitor: the port is free again.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", port), timeout=2).close()


def test_network_container_mode_shares_the_netns(image: str, tuidock_root: Path) -> None:
    web = run_httpd(image, "--name", "web", text="shared")
    out = ok("run", "--rm", "--network", "container:web", image, "wget", "-qO-", "127.0.0.1")
    assert out == "shared\n"
    ip = container_ip(web, tuidock_root)
    out = ok("run", "--rm", "--network", "container:web", image, "ip", "-4", "-o", "addr")
    assert f"inet {ip}/" in out
    res = tuidock("run", "--rm", "--network", "container:nosuch", image, "true")
    assert_clean_error(res)


def test_start_after_monitor_killed_clears_stale_endpoint(image: str) -> None:
    cid = ok("run", "-d", image, "sleep", "60").strip()
    (mon,) = monitors_of(cid)
    os.kill(mon, signal.SIGKILL)
    wait_for(lambda: not monitors_of(cid), what="the monitor to die")
    ok("start", cid)  # no `ps` in between: start itself clears the leftovers
    assert f"td{cid[:8]}" in _links() and _netns_files() == {cid}


def test_per_root_default_bridge(tuidock_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from tuidock.runtime.network import network_config

    monkeypatch.delenv("TUIDOCK_BRIDGE")
    monkeypatch.delenv("TUIDOCK_BRIDGE_SUBNET")
    cfg = network_config(tuidock_root)
    assert cfg["Bridge"].startswith("tdbr") and cfg["Bridge"] != "tdbr0"
    assert ipaddress.IPv4Network(cfg["Subnet"]).subnet_of(ipaddress.IPv4Network("10.89.0.0/16"))
    assert network_config(tuidock_root) == cfg  # fixed at first use


@contextlib.contextmanager
def _host_address(address: str) -> Iterator[None]:
    """A veth of this session carrying `address` (a real host route); veth, as the
    dummy driver is not always built."""
    name = f"tdd{os.getpid():x}"
    subprocess.run(["ip", "link", "add", name, "type", "veth", "peer", f"{name}p"], check=True)
    try:
        subprocess.run(["ip", "addr", "add", address, "dev", name], check=True)
        subprocess.run(["ip", "link", "set", name, "up"], check=True)
        yield
    finally:
        subprocess.run(["ip", "link", "del", name], check=True)


def test_new_subnets_skip_host_routes(tuidock_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A data root's default bridge and `network create` without --subnet skip a /24
    that a host route or address already uses (Docker: first free pool subnet)."""
    from tuidock.runtime.network import _default_subnet

    monkeypatch.delenv("TUIDOCK_BRIDGE_SUBNET")
    first = ipaddress.IPv4Network(_default_subnet(tuidock_root))
    with _host_address(f"{first[9]}/24"):
        chosen = ipaddress.IPv4Network(_default_subnet(tuidock_root))
        assert not chosen.overlaps(first)
        ok("network", "create", "probe1")
        net1 = ipaddress.IPv4Network(
            json.loads(ok("network", "inspect", "probe1"))[0]["IPAM"]["Config"][0]["Subnet"]
        )
    ok("network", "rm", "probe1")
    # An address without a prefix route (a /32) is seen too.
    with _host_address(f"{net1[20]}/32"):
        ok("network", "create", "probe2")
        doc = json.loads(ok("network", "inspect", "probe2"))[0]
        net2 = ipaddress.IPv4Network(doc["IPAM"]["Config"][0]["Subnet"])
        assert net1[20] not in net2
    ok("network", "rm", "probe2")


def test_bridge_refused_on_a_subnet_the_host_uses(image: str) -> None:
    """A network whose subnet a host route took meanwhile: a clear error at start,
    nothing left behind (own_bridge counts links and netns files)."""
    ok("network", "create", "--subnet", str(USER_SUBNETS[6]), "clash")
    try:
        with _host_address(f"{USER_SUBNETS[6][200]}/24"):
            res = tuidock("run", "--rm", "--network", "clash", image, "true")
        assert_clean_error(res)
        assert "overlaps a route or address already on the host" in res.err
        assert ok("run", "--rm", "--network", "clash", image, "echo", "fine") == "fine\n"
    finally:
        tuidock("network", "rm", "clash")


def test_user_network_name_resolution(image: str, tuidock_root: Path) -> None:
    net_id = ok("network", "create", "--subnet", str(USER_SUBNETS[0]), "appnet").strip()
    assert len(net_id) == 64
    half = str(next(USER_SUBNETS[0].subnets()))  # overlaps appnet's
    assert_clean_error(tuidock("network", "create", "--subnet", half, "other"))
    bridge = json.loads(ok("network", "inspect", "appnet"))[0]["Options"][
        "com.docker.network.bridge.name"
    ]
    web = run_httpd(image, "--name", "web", "--network", "appnet", text="by name")
    assert ipaddress.IPv4Address(container_ip(web, tuidock_root)) in USER_SUBNETS[0]
    # The client is created after the server: it learns the server's name...
    out = ok("run", "--rm", "--name", "client", "--network", "appnet", image, "wget", "-qO-", "web")
    assert out == "by name\n"
    # ...and a running container learns the names of those created after it.
    other = ok("run", "-d", "--name", "late", "--network", "appnet", image, "sleep", "60").strip()
    web_hosts = (tuidock_root / "containers" / web / "hosts").read_text()
    assert f"{container_ip(other, tuidock_root)}\tlate" in web_hosts
    assert "client" not in web_hosts  # removed with its container
    doc = json.loads(ok("network", "inspect", "appnet"))[0]
    assert {c["Name"] for c in doc["Containers"].values()} == {"web", "late"}
    assert "appnet" in ok("network", "ls", "-q").split()
    res = tuidock("network", "rm", "appnet")
    assert_clean_error(res)
    assert "active endpoints" in res.err
    ok("rm", "-f", web, other)
    assert bridge not in _all_links()
    assert ok("network", "prune", "-f").split() == ["Deleted", "Networks:", "appnet"]
    assert "appnet" not in ok("network", "ls", "-q").split()
    assert_clean_error(tuidock("run", "--rm", "--network", "appnet", image, "true"))


def _all_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True, check=True).stdout
    return {line.split(":")[1].strip().split("@")[0] for line in out.splitlines()}


def test_publish_parsing_and_docker_mac() -> None:
    from tuidock.errors import UsageError
    from tuidock.runtime.network import mac_for
    from tuidock.runtime.network.ports import PortMapping, exposed_ports, parse_publish

    assert parse_publish("8080:80") == [PortMapping(80, "tcp", "", 8080)]
    assert parse_publish("127.0.0.1::53/udp") == [PortMapping(53, "udp", "127.0.0.1", 0)]
    assert parse_publish("80") == [PortMapping(80, "tcp", "", 0)]
    assert parse_publish("8000-8001:80-81/udp") == [
        PortMapping(80, "udp", "", 8000),
        PortMapping(81, "udp", "", 8001),
    ]
    assert parse_publish("10.0.0.1:8000-8001:80-81") == [
        PortMapping(80, "tcp", "10.0.0.1", 8000),
        PortMapping(81, "tcp", "10.0.0.1", 8001),
    ]
    assert parse_publish("80-81") == [PortMapping(80), PortMapping(81)]
    # One container port and a host range: the first free port of the range (Docker).
    assert parse_publish("8000-8010:80") == [PortMapping(80, "tcp", "", 8000, 8010)]
    for bad in ("http", "1.2.3:80:80", "70000:80", "80/sctp", "81-80", "8000-:80", "80-"):
        with pytest.raises(UsageError, match="invalid"):
            parse_publish(bad)
    for bad in ("8000-8002:80-81", "8000:80-81", "8000-8001:80-82/udp"):
        with pytest.raises(UsageError, match="Invalid ranges specified for container and host"):
            parse_publish(bad)
    assert exposed_ports({"80/tcp": {}, "53/udp": {}}) == [
        PortMapping(80, "tcp"),
        PortMapping(53, "udp"),
    ]
    assert mac_for("10.89.128.2") == "02:42:0a:59:80:02"


def _ipam_table(root: Path, network: str) -> dict[str, str]:
    path = root / "networks" / f"{network}.ipam.json"
    return json.loads(path.read_text()) if path.exists() else {}


def test_network_alias_resolves_for_peers(image: str, tuidock_root: Path) -> None:
    assert_clean_error(tuidock("run", "--rm", "--network-alias", "x", image, "true"))
    ok("network", "create", "--subnet", str(USER_SUBNETS[1]), "aliasnet")
    bridge = json.loads(ok("network", "inspect", "aliasnet"))[0]["Options"][
        "com.docker.network.bridge.name"
    ]
    try:
        web = run_httpd(
            image,
            *("--name", "web", "--network", "aliasnet"),
            *("--network-alias", "www", "--network-alias", "api.internal"),
            text="by alias",
        )
        for name in ("www", "api.internal", "web"):
            out = ok("run", "--rm", "--network", "aliasnet", image, "wget", "-qO-", name)
            assert out == "by alias\n", name
        late = ok("run", "-d", "--network", "aliasnet", image, "sleep", "60").strip()
        ip = container_ip(web, tuidock_root)
        line = next(
            ln
            for ln in (tuidock_root / "containers" / late / "hosts").read_text().splitlines()
            if ln.startswith(f"{ip}\t")
        )
        assert {"web", "www", "api.internal"} <= set(line.split())
        ok("rm", "-f", web, late)
    finally:
        tuidock("network", "rm", "aliasnet")
    assert bridge not in _all_links()


def test_network_connect_and_disconnect_running(image: str, tuidock_root: Path) -> None:
    ok("network", "create", "--subnet", str(USER_SUBNETS[2]), "frontnet")
    ok("network", "create", "--subnet", str(USER_SUBNETS[3]), "backnet")
    bridges = {  # two names at once (the lazy parser once took the second for a command)
        n["Options"]["com.docker.network.bridge.name"]
        for n in json.loads(ok("network", "inspect", "frontnet", "backnet"))
    }
    assert len(bridges) == 2
    try:
        web = run_httpd(image, "--name", "web", "--network", "frontnet", text="connected")
        db = ok("run", "-d", "--name", "db", "--network", "backnet", image, "sleep", "60").strip()
        # A created (not running) container: recorded now, made at its start (Docker).
        stopped = ok("create", "--name", "idle", "--network", "frontnet", image, "sleep", "60")
        stopped = stopped.strip()
        ok("network", "connect", "backnet", "idle")
        assert not any(ln.startswith(f"td{stopped[:8]}") for ln in _all_links())
        idle_ip = next(a for a, c in _ipam_table(tuidock_root, "backnet").items() if c == stopped)
        assert f"{idle_ip}\tidle" in (tuidock_root / "containers" / db / "hosts").read_text()
        settings = json.loads(ok("inspect", "idle"))[0]["NetworkSettings"]
        assert set(settings["Networks"]) == {"frontnet", "backnet"}
        ok("start", "idle")
        out = ok("exec", "idle", "ip", "-4", "-o", "addr", "show", "eth1")
        assert f"inet {idle_ip}/24" in out
        ok("exec", "idle", "ping", "-c1", "-W2", "db")
        ok("stop", "-t", "0", "idle")
        ok("network", "disconnect", "backnet", "idle")  # stopped: the record goes
        assert stopped not in _ipam_table(tuidock_root, "backnet").values()
        assert "idle" not in (tuidock_root / "containers" / db / "hosts").read_text()

        ok("network", "connect", "--alias", "webby", "backnet", "web")
        assert ok("exec", "web", "ls", "/sys/class/net").split() == ["eth0", "eth1", "lo"]
        back_ip = next(a for a, c in _ipam_table(tuidock_root, "backnet").items() if c == web)
        assert ipaddress.IPv4Address(back_ip) in USER_SUBNETS[3]
        out = ok("exec", "web", "ip", "-4", "-o", "addr", "show", "eth1")
        assert f"inet {back_ip}/24" in out
        # Peers on the new network reach it by name and alias; it reaches them by name.
        db_hosts = (tuidock_root / "containers" / db / "hosts").read_text()
        assert f"{back_ip}\tweb" in db_hosts and "webby" in db_hosts
        for name in ("web", "webby"):
            out = ok("run", "--rm", "--network", "backnet", image, "wget", "-qO-", name)
            assert out == "connected\n"
        ok("exec", "web", "ping", "-c1", "-W2", "db")
        settings = json.loads(ok("inspect", "web"))[0]["NetworkSettings"]
        assert set(settings["Networks"]) == {"frontnet", "backnet"}
        assert settings["Networks"]["backnet"]["IPAddress"] == back_ip
        assert settings["Networks"]["backnet"]["Aliases"] == ["webby"]
        assert_clean_error(tuidock("network", "connect", "backnet", "web"))  # already
        doc = json.loads(ok("network", "inspect", "backnet"))[0]
        assert {c["Name"] for c in doc["Containers"].values()} == {"web", "db"}

        # Stop and start: the connection survives, its veth is torn down and made anew.
        ok("stop", "-t", "0", "web")
        assert not any(ln.startswith(f"td{web[:8]}") for ln in _all_links())
        ok("start", "web")
        assert ok("exec", "web", "ls", "/sys/class/net").split() == ["eth0", "eth1", "lo"]

        ok("network", "disconnect", "backnet", "web")
        assert ok("exec", "web", "ls", "/sys/class/net").split() == ["eth0", "lo"]
        assert not any(ln.startswith(f"td{web[:8]}") and len(ln) > 10 for ln in _all_links())
        assert list(_ipam_table(tuidock_root, "backnet").values()) == [db]
        assert "web" not in (tuidock_root / "containers" / db / "hosts").read_text()
        assert "\tdb\t" not in (tuidock_root / "containers" / web / "hosts").read_text()
        res = tuidock("network", "disconnect", "frontnet", "web")
        assert_clean_error(res)
        assert_clean_error(tuidock("network", "disconnect", "backnet", "web"))

        # Disconnected while stopped: it starts with eth0 only.
        ok("network", "connect", "backnet", "web")
        ok("stop", "-t", "0", "web")
        ok("network", "disconnect", "backnet", "web")
        ok("start", "web")
        assert ok("exec", "web", "ls", "/sys/class/net").split() == ["eth0", "lo"]
        assert list(_ipam_table(tuidock_root, "backnet").values()) == [db]

        # Connected again, then rm -f: every veth, bridge and address goes.
        ok("network", "connect", "backnet", "web")
        ok("rm", "-f", web, db, stopped)
        assert not bridges & _all_links()
        assert _ipam_table(tuidock_root, "backnet") == {}
        assert _ipam_table(tuidock_root, "frontnet") == {}
    finally:
        tuidock("network", "rm", "frontnet", "backnet")


def test_network_connect_then_monitor_killed_is_reconciled(image: str, tuidock_root: Path) -> None:
    ok("network", "create", "--subnet", str(USER_SUBNETS[4]), "sidenet")
    bridge = json.loads(ok("network", "inspect", "sidenet"))[0]["Options"][
        "com.docker.network.bridge.name"
    ]
    try:
        cid = ok("run", "-d", image, "sleep", "60").strip()
        ok("network", "connect", "sidenet", cid)
        assert bridge in _all_links()
        (mon,) = monitors_of(cid)
        os.kill(mon, signal.SIGKILL)
        wait_for(lambda: not monitors_of(cid), what="the monitor to die")
        ok("ps", "-a")
        assert bridge not in _all_links()
        assert not any(ln.startswith(f"td{cid[:8]}") for ln in _all_links())
        ok("rm", "-f", cid)
        assert _ipam_table(tuidock_root, "sidenet") == {}
    finally:
        tuidock("network", "rm", "sidenet")


def test_inspect_network_settings_on_bridge(image: str, tuidock_root: Path) -> None:
    cid = ok("run", "-d", "-p", "127.0.0.1::80", image, "sleep", "60").strip()
    ns = json.loads(ok("inspect", cid))[0]["NetworkSettings"]
    ip = container_ip(cid, tuidock_root)
    assert ns["IPAddress"] == ip and ns["Gateway"] == str(SUBNET[1])
    assert ns["MacAddress"] == "02:42:" + ":".join(
        f"{b:02x}" for b in ipaddress.IPv4Address(ip).packed
    )
    net = ns["Networks"]["bridge"]
    assert net["IPAddress"] == ip and net["IPPrefixLen"] == SUBNET.prefixlen
    assert len(net["NetworkID"]) == 64 and net["MacAddress"] == ns["MacAddress"]
    port = ok("port", cid, "80").strip().rsplit(":", 1)[1]
    assert ns["Ports"] == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": port}]}
    ok("stop", "-t", "0", cid)
    ns = json.loads(ok("inspect", cid))[0]["NetworkSettings"]
    assert ns["Ports"] == {} and ns["IPAddress"] == ip
    none = ok("create", "--network", "none", image, "true").strip()
    ns = json.loads(ok("inspect", none))[0]["NetworkSettings"]
    assert ns["Networks"] == {"none": {}}
    ok("rm", "-f", cid, none)


def test_ipv6_dual_stack_user_network(image: str, tuidock_root: Path) -> None:
    """`network create --ipv6`: each container gets an IPv6 address besides its IPv4
    one (same host number), a v6 default route, and peers' names resolve to both."""
    res = tuidock("network", "create", "--subnet", "fd00:1::/64", "v6bad")
    assert_clean_error(res)
    assert "--ipv6" in res.err
    from tuidock.runtime.network.hostroutes import first_free

    pid = os.getpid()
    v6 = first_free(
        (ipaddress.IPv6Network(f"fd{pid % 256:02x}:{pid % 65536:x}:{i:x}::/64") for i in range(99)),
        [],
    )
    assert v6 is not None
    ok("network", "create", "--ipv6", "--subnet", str(USER_SUBNETS[5]), "--subnet", str(v6), "ds")
    ok("network", "create", "--ipv6", "auto6")  # a free fdXX::/64 of its own
    doc = json.loads(ok("network", "inspect", "ds", "auto6"))
    assert doc[0]["EnableIPv6"] is True
    assert [c["Subnet"] for c in doc[0]["IPAM"]["Config"]] == [str(USER_SUBNETS[5]), str(v6)]
    auto = ipaddress.IPv6Network(doc[1]["IPAM"]["Config"][1]["Subnet"])
    assert auto.prefixlen == 64 and auto.subnet_of(ipaddress.IPv6Network("fd00::/8"))
    bridge = doc[0]["Options"]["com.docker.network.bridge.name"]
    try:
        web = run_httpd(image, "--name", "web6", "--network", "ds", text="over v6")
        ip4 = ipaddress.IPv4Address(container_ip(web, tuidock_root))
        ip6 = v6.network_address + (int(ip4) - int(USER_SUBNETS[5].network_address))
        settings = json.loads(ok("inspect", web))[0]["NetworkSettings"]["Networks"]["ds"]
        assert settings["GlobalIPv6Address"] == str(ip6)
        assert settings["IPv6Gateway"] == str(v6[1]) and settings["GlobalIPv6PrefixLen"] == 64
        out = ok("exec", web, "sh", "-c", "ip -6 -o addr show eth0; ip -6 route; cat /etc/hosts")
        assert f"inet6 {ip6}/64" in out and f"default via {v6[1]} dev eth0" in out
        assert f"{ip6}\t" in out  # its own name on its v6 address
        client = "ip -6 -o addr show eth0 && ping -6 -c1 -W2 web6 >/dev/null"
        client += f" && wget -qO- http://[{ip6}]/ && grep web6 /etc/hosts"
        out = ok("run", "--rm", "--network", "ds", image, "sh", "-c", client)
        assert "over v6" in out
        assert f"{ip6}\tweb6" in out and f"{ip4}\tweb6" in out
        info = json.loads(ok("network", "inspect", "ds"))[0]["Containers"][web]
        assert info["IPv6Address"] == f"{ip6}/64"
        # `network connect` to a dual-stack network: eth1 gets both families.
        other = ok("run", "-d", image, "sleep", "60").strip()
        ok("network", "connect", "ds", other)
        conn = json.loads(ok("inspect", other))[0]["NetworkSettings"]["Networks"]["ds"]
        out = ok("exec", other, "ip", "-6", "-o", "addr", "show", "eth1")
        assert f"inet6 {conn['GlobalIPv6Address']}/64" in out
        ok("exec", other, "ping", "-6", "-c1", "-W2", str(ip6))
        ok("rm", "-f", other)
        ok("rm", "-f", web)
        assert bridge not in _all_links()
    finally:
        tuidock("network", "rm", "ds", "auto6")
