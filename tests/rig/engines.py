"""Private Docker and Podman engines for the Docker backend's tests.

Each engine runs in its own temp dir and touches nothing of the host's:

- dockerd with its own data-root, exec-root, pidfile, socket and containerd
  namespaces, `--iptables=false --ip6tables=false --bridge=none` (Docker's
  FORWARD DROP would break every other bridge here) and the fixture
  registry as an insecure registry;
- `podman system service --time=0` with a private storage root, run root,
  containers.conf (runc: crun refuses this machine's hybrid cgroups;
  cgroupfs; file events; ulimits under this root's hard limits) and a
  registries.conf marking the fixture registry insecure; its default
  network's bridge is named for this run (Podman's own `cni-podman0` is
  shared by every Podman on the host).

`stop()` removes the engine's containers, signals the pid it started,
detaches mounts left under its dir and deletes the dir. For Podman it also
deletes the bridges its networks made and their CNI firewall rules, and the
CNI chains once no other bridge's rules are in them: CNI's DEL removes a
container's rules but never a network's bridge or isolation rules.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path


class EngineStartError(RuntimeError):
    pass


def _ready(sock: Path) -> bool:
    if not sock.exists():
        return False
    s = socket.socket(socket.AF_UNIX)
    try:
        s.settimeout(1)
        s.connect(str(sock))
        s.sendall(b"GET /_ping HTTP/1.0\r\n\r\n")
        return s.recv(64).startswith(b"HTTP/1.")
    except OSError:
        return False
    finally:
        s.close()


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve()) + "/"
    with open("/proc/self/mountinfo") as info:
        points = [line.split()[4].replace("\\040", " ") for line in info]
    return [p for p in points if p.startswith(prefix)]


def _processes_naming(path: Path) -> list[int]:
    needle = str(path).encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if needle in f.read():
                    pids.append(int(entry))
        except OSError:
            continue
    return pids


@dataclass
class EngineProc:
    name: str  # "docker" or "podman"
    dir: Path
    socket: Path
    proc: subprocess.Popen
    log: Path
    tcp_host: str = ""  # tcp://127.0.0.1:PORT with TLS, when asked for

    @property
    def host(self) -> str:
        return f"unix://{self.socket}"

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            if _ready(self.socket):
                return
            time.sleep(0.2)
        tail = self.log.read_text(errors="replace")[-1500:] if self.log.exists() else ""
        self.stop()
        raise EngineStartError(f"{self.name} did not start: {tail.strip()}")

    def remove_containers(self) -> None:
        import docker

        try:
            api = docker.APIClient(base_url=self.host, version="auto", timeout=30)
            for c in api.containers(all=True):
                api.remove_container(c["Id"], force=True)
            api.close()
        except Exception:
            pass

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.remove_containers()
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        # Podman's conmon of an exec session lingers (--exit-delay 300) after its
        # container went: end every process that names this engine's dir.
        for pid in _processes_naming(self.dir):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for point in sorted(_mounts_under(self.dir), key=len, reverse=True):
            subprocess.run(["umount", "-l", point], check=False, capture_output=True)
        if self.name == "podman":
            _remove_cni_bridges(_cni_bridges(self.dir / "networks"))
        shutil.rmtree(self.dir, ignore_errors=True)


def _cni_bridges(network_dir: Path) -> list[str]:
    """The bridge devices named by the CNI network configs in `network_dir`."""
    bridges = []
    for conf in network_dir.glob("*.conflist"):
        try:
            plugins = json.loads(conf.read_text()).get("plugins", [])
        except (OSError, ValueError):
            continue
        bridges += [p["bridge"] for p in plugins if p.get("type") == "bridge" and p.get("bridge")]
    return bridges


# The rules CNI's firewall plugin puts in its chains for any bridge; a chain
# holding only these serves no network and can go.
_CNI_BASE = {
    "CNI-ADMIN": 0,
    "CNI-FORWARD": 1,  # the jump to CNI-ADMIN
    "CNI-ISOLATION-STAGE-1": 1,  # RETURN
    "CNI-ISOLATION-STAGE-2": 1,  # RETURN
}


def _iptables_rules() -> list[str]:
    out = subprocess.run(["iptables", "-S"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()


def _rule_devices(rule: str) -> set[str]:
    words = rule.split()
    return {words[i + 1] for i in range(len(words) - 1) if words[i] in ("-i", "-o")}


def _remove_cni_bridges(bridges: list[str]) -> None:
    """Delete `bridges` and the CNI rules naming them, and the rules of CNI
    bridges that are gone (`network rm` deletes the bridge, not its isolation
    rules); then the CNI chains if nothing but their base rules is left."""
    if shutil.which("iptables") is None:
        return
    names = set(bridges)
    for rule in _iptables_rules():
        if " CNI-" in rule:
            names |= {d for d in _rule_devices(rule) if not Path("/sys/class/net", d).exists()}
    for rule in _iptables_rules():
        if rule.startswith("-A ") and _rule_devices(rule) & names:
            # shlex keeps the quoted comment one argument, as iptables printed it
            subprocess.run(["iptables", "-D", *shlex.split(rule)[1:]], capture_output=True)
    for bridge in names:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)
    # The chains there are (the isolation ones only come with ingressPolicy).
    rules = _iptables_rules()
    chains = [chain for chain in _CNI_BASE if f"-N {chain}" in rules]
    counts = {chain: sum(r.startswith(f"-A {chain} ") for r in rules) for chain in chains}
    if not chains or any(counts[chain] != _CNI_BASE[chain] for chain in chains):
        return
    for rule in rules:
        if rule.startswith("-A FORWARD ") and " -j CNI-" in rule:
            subprocess.run(["iptables", "-D", *shlex.split(rule)[1:]], capture_output=True)
    for chain in chains:
        subprocess.run(["iptables", "-F", chain], capture_output=True)
    for chain in chains:
        subprocess.run(["iptables", "-X", chain], capture_output=True)


def make_client_cert(ca_cert: Path, ca_key: Path, dest: Path) -> tuple[Path, Path]:
    """A client certificate signed by the CA, for a dockerd started with --tlsverify."""
    dest.mkdir(parents=True, exist_ok=True)
    cert, key, csr, ext = dest / "cert.pem", dest / "key.pem", dest / "client.csr", dest / "ext"
    ext.write_text("extendedKeyUsage = clientAuth\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for args in (
        ["req", "-new", *ec, "-subj", "/CN=tuidock test client", "-keyout", key, "-out", csr],
        ["x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key, "-CAcreateserial",
         "-days", "2", "-extfile", ext, "-out", cert],
    ):  # fmt: skip
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)
    return cert, key


def start_dockerd(registry_host: str, tls: tuple[Path, Path, Path] | None = None) -> EngineProc:
    """`tls` (CA, server cert, key): also listen on a loopback TCP port with --tlsverify
    (`.tcp_host`); clients need a certificate signed by the same CA."""
    if shutil.which("dockerd") is None:
        raise EngineStartError("dockerd is not installed (apt-get install docker.io)")
    d = Path(tempfile.mkdtemp(prefix="tdk-dockerd-"))
    # containerd namespaces allow only [A-Za-z0-9] runs joined by single [._-];
    # mkdtemp's suffix may hold "_" (e.g. "tdk-_qpi96r6" is refused): a hex tag.
    tag = uuid.uuid4().hex[:12]
    sock, log = d / "docker.sock", d / "dockerd.log"
    tcp: list[str] = []
    tcp_host = ""
    if tls is not None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        tcp_host = f"tcp://127.0.0.1:{port}"
        ca, cert, key = map(str, tls)
        tcp = ["-H", tcp_host, "--tlsverify", "--tlscacert", ca, "--tlscert", cert, "--tlskey", key]
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [
                "dockerd",
                "--data-root", str(d / "data"),
                "--exec-root", str(d / "exec"),
                "--pidfile", str(d / "docker.pid"),
                "-H", f"unix://{sock}",
                "--iptables=false",
                "--ip6tables=false",
                "--bridge=none",
                "--insecure-registry", registry_host,
                "--containerd-namespace", f"tdk-{tag}",
                "--containerd-plugins-namespace", f"tdk-{tag}-plugins",
                *tcp,
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    engine = EngineProc("docker", d, sock, proc, log, tcp_host=tcp_host)
    engine.wait_ready()
    return engine


def _podman_default_network() -> dict:
    bridge = {
        "type": "bridge",
        "bridge": f"tdkpm{uuid.uuid4().hex[:8]}",  # IFNAMSIZ: at most 15 characters
        "isGateway": True,
        "ipMasq": True,
        "hairpinMode": True,
        "ipam": {
            "type": "host-local",
            "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": "10.88.0.0/16", "gateway": "10.88.0.1"}]],
        },
    }
    return {
        "cniVersion": "0.4.0",
        "name": "podman",
        "plugins": [
            bridge,
            {"type": "portmap", "capabilities": {"portMappings": True}},
            {"type": "firewall"},
            {"type": "tuning"},
        ],
    }


def start_podman(registry_host: str) -> EngineProc:
    if shutil.which("podman") is None:
        raise EngineStartError("podman is not installed (apt-get install podman)")
    d = Path(tempfile.mkdtemp(prefix="tdk-podman-"))
    for sub in ("tmp", "networks", "volumes"):
        (d / sub).mkdir()
    # Podman's default network as Podman 4 writes it, on a bridge of this run's own.
    (d / "networks" / "podman.conflist").write_text(json.dumps(_podman_default_network()))
    (d / "containers.conf").write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        "[engine]\n"
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
        f'events_logfile_path = "{d}/events.log"\n'
        'runtime = "runc"\n'
        f'tmp_dir = "{d}/tmp"\n'
        f'volume_path = "{d}/volumes"\n'
        "[network]\n"
        f'network_config_dir = "{d}/networks"\n'
    )
    (d / "registries.conf").write_text(
        "unqualified-search-registries = []\n"
        f'[[registry]]\nlocation = "{registry_host}"\ninsecure = true\n'
    )
    sock, log = d / "podman.sock", d / "podman.log"
    env = dict(
        os.environ,
        CONTAINERS_CONF=str(d / "containers.conf"),
        CONTAINERS_REGISTRIES_CONF=str(d / "registries.conf"),
        CONTAINERS_STORAGE_CONF=str(d / "storage.conf"),
    )
    (d / "storage.conf").write_text(
        f'[storage]\ndriver = "overlay"\nrunroot = "{d}/run"\ngraphroot = "{d}/storage"\n'
    )
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["podman", "system", "service", "--time=0", f"unix://{sock}"],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=d,
            start_new_session=True,
        )
    engine = EngineProc("podman", d, sock, proc, log)
    engine.wait_ready()
    return engine
