"""Private Docker and Podman engines for the Docker backend's tests.

Each engine runs in its own temp dir and touches nothing of the host's:

- dockerd with its own data-root, exec-root, pidfile, socket and containerd
  namespaces, `--iptables=false --ip6tables=false --bridge=none` (Docker's
  FORWARD DROP would break every other bridge here) and the fixture
  registry as an insecure registry;
- `podman system service --time=0` with a private storage root, run root,
  containers.conf (runc: crun refuses this machine's hybrid cgroups;
  cgroupfs; file events; ulimits under this root's hard limits) and a
  registries.conf marking the fixture registry insecure.

`stop()` removes the engine's containers, signals the pid it started,
detaches mounts left under its dir and deletes the dir.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
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
        shutil.rmtree(self.dir, ignore_errors=True)


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
    # containerd namespaces allow [A-Za-z0-9] runs joined by one of ._- (mkdtemp may give _).
    tag = "".join(ch for ch in d.name.rsplit("-", 1)[-1] if ch.isalnum()) or "x"
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


def start_podman(registry_host: str) -> EngineProc:
    if shutil.which("podman") is None:
        raise EngineStartError("podman is not installed (apt-get install podman)")
    d = Path(tempfile.mkdtemp(prefix="tdk-podman-"))
    for sub in ("tmp", "networks", "volumes"):
        (d / sub).mkdir()
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
