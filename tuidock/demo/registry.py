"""A real Docker registry (Debian's docker-registry, distribution 2.8) on loopback.

`LocalRegistry` is a registry owned by the Python process that started it
(tests); `start_demo` runs a long-lived one for the README quick-start.
"""

from __future__ import annotations

import contextlib
import fcntl
import http.client
import json
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from tuidock.demo import imagebuild

REGISTRY_BIN = "/usr/bin/docker-registry"
LOOPBACK = "127.0.0.1"


class RegistryStartError(RuntimeError):
    """The registry did not come up; the message carries its log."""


@dataclass(frozen=True)
class TokenAuth:
    """Bearer-token settings of `auth.token`: who issues tokens and how to check them."""

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


def free_port(host: str = LOOPBACK) -> int:
    """A port nobody listens on right now (the caller must cope with losing a race)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def probe(host: str, *, tls: bool = False, timeout: float = 1.0) -> int | None:
    """Status of `GET /v2/`, or None when nothing answers.

    Certificates are not checked: this only asks whether a registry is up.
    """
    name, _, port = host.rpartition(":")
    conn: http.client.HTTPConnection
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        conn = http.client.HTTPSConnection(name, int(port), timeout=timeout, context=ctx)
    else:
        conn = http.client.HTTPConnection(name, int(port), timeout=timeout)
    try:
        conn.request("GET", "/v2/")
        status = conn.getresponse().status
    except (OSError, http.client.HTTPException):
        return None
    finally:
        conn.close()
    return status


def write_htpasswd(path: Path, users: dict[str, str]) -> None:
    """bcrypt entries, the only kind distribution accepts."""
    lines = [
        imagebuild.run(["htpasswd", "-Bbn", user, password]).strip()
        for user, password in users.items()
    ]
    path.write_text("\n".join(lines) + "\n")
    os.chmod(path, 0o600)


def registry_config(
    storage: Path,
    addr: str,
    *,
    htpasswd: Path | None = None,
    token: TokenAuth | None = None,
    tls: tuple[Path, Path] | None = None,
    log_level: str = "error",
) -> dict[str, object]:
    """The registry's configuration. Written as JSON, which its YAML parser reads."""
    http_cfg: dict[str, object] = {
        "addr": addr,
        # Without one the registry logs a warning and invents its own.
        "secret": secrets.token_hex(16),
    }
    if tls:
        http_cfg["tls"] = {"certificate": str(tls[0]), "key": str(tls[1])}
    config: dict[str, object] = {
        "version": "0.1",
        "log": {"level": log_level, "accesslog": {"disabled": True}, "formatter": "text"},
        "storage": {
            "filesystem": {"rootdirectory": str(storage)},
            "delete": {"enabled": True},
            "maintenance": {"uploadpurging": {"enabled": False}},
        },
        "http": http_cfg,
    }
    if htpasswd and token:
        raise ValueError("a registry takes one auth method")
    if htpasswd:
        config["auth"] = {"htpasswd": {"realm": "tuidock-registry", "path": str(htpasswd)}}
    if token:
        config["auth"] = {
            "token": {
                "realm": token.realm,
                "service": token.service,
                "issuer": token.issuer,
                "rootcertbundle": str(token.rootcertbundle),
            }
        }
    return config


def _registry_env() -> dict[str, str]:
    # REGISTRY_* variables override the config file; a stray one must not leak in.
    return {k: v for k, v in os.environ.items() if not k.startswith("REGISTRY_")}


def _die_with_parent(argv: list[str]) -> list[str]:
    """Prefix argv so the process gets SIGTERM when its parent dies.

    A test run killed with SIGKILL must not leave registries behind. setpriv
    execs in place, so the pid is still the registry's; a preexec_fn would do
    the same but is unsafe in a process that runs threads (the token server).
    """
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "TERM", "--", *argv] if setpriv else argv


def _tail(path: Path, limit: int = 2000, start: int = 0) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(start)
            return log.read().decode(errors="replace")[-limit:].strip()
    except OSError:
        return ""


class LocalRegistry:
    """docker-registry on 127.0.0.1 at a free port, owned by this process.

    >>> with LocalRegistry(storage) as reg:
    ...     reg.host  # "127.0.0.1:PORT"
    """

    def __init__(
        self,
        storage: Path | None = None,
        *,
        workdir: Path | None = None,
        htpasswd_users: dict[str, str] | None = None,
        token: TokenAuth | None = None,
        tls: tuple[Path, Path] | None = None,
        log_level: str = "error",
        start_timeout: float = 15.0,
    ) -> None:
        self._given_workdir = workdir
        self._storage = storage
        self._own_storage = False
        self._htpasswd_users = htpasswd_users
        self._token = token
        self._tls = tls
        self._log_level = log_level
        self._start_timeout = start_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self.workdir: Path | None = None
        self._created: list[Path] = []

    # --- addresses -------------------------------------------------------------

    @property
    def host(self) -> str:
        if self._port is None:
            raise RuntimeError("registry not started")
        return f"{LOOPBACK}:{self._port}"

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("registry not started")
        return self._port

    @property
    def scheme(self) -> str:
        return "https" if self._tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def storage(self) -> Path:
        if self._storage is None:
            raise RuntimeError("registry not started")
        return self._storage

    @property
    def log_path(self) -> Path:
        if self.workdir is None:
            raise RuntimeError("registry not started")
        return self.workdir / "registry.log"

    # --- lifecycle -------------------------------------------------------------

    def start(self) -> LocalRegistry:
        if self._proc is not None:
            return self
        if not os.access(REGISTRY_BIN, os.X_OK):
            raise RegistryStartError(f"{REGISTRY_BIN} missing: run `{imagebuild.INSTALL_HINT}`")
        if self._given_workdir is not None:
            self.workdir = self._given_workdir
            self.workdir.mkdir(parents=True, exist_ok=True)
        else:
            self.workdir = Path(tempfile.mkdtemp(prefix="tuidock-registry-"))
            self._created.append(self.workdir)
        if self._storage is None or self._own_storage:
            self._storage = self.workdir / "storage"
            self._own_storage = True
            self._created.append(self._storage)
        self._storage.mkdir(parents=True, exist_ok=True)
        htpasswd = None
        if self._htpasswd_users:
            htpasswd = self.workdir / "htpasswd"
            write_htpasswd(htpasswd, self._htpasswd_users)
            self._created.append(htpasswd)
        try:
            self._spawn(htpasswd)
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, htpasswd: Path | None) -> None:
        assert self.workdir is not None and self._storage is not None
        config_path = self.workdir / "registry.yml"
        log_path = self.log_path
        self._created += [config_path, log_path]
        deadline = time.monotonic() + self._start_timeout
        # The free port can be taken between our probe and the registry's bind.
        for _attempt in range(5):
            port = free_port()
            config = registry_config(
                self._storage,
                f"{LOOPBACK}:{port}",
                htpasswd=htpasswd,
                token=self._token,
                tls=self._tls,
                log_level=self._log_level,
            )
            config_path.write_text(json.dumps(config, indent=1))
            log_start = log_path.stat().st_size if log_path.exists() else 0
            with open(log_path, "ab") as log:
                self._proc = subprocess.Popen(
                    _die_with_parent([REGISTRY_BIN, "serve", str(config_path)]),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=log,
                    env=_registry_env(),
                )
            self._port = port
            if self._wait_ready(deadline):
                return
            log_text = _tail(log_path, start=log_start)
            self._kill()
            if "address already in use" not in log_text:
                raise RegistryStartError(f"docker-registry did not start: {log_text or 'no log'}")
        raise RegistryStartError("docker-registry: no free port after 5 attempts")

    def _wait_ready(self, deadline: float) -> bool:
        assert self._proc is not None
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                return False
            status = probe(self.host, tls=bool(self._tls), timeout=0.5)
            # 401: an auth registry answering is up just the same.
            if status in (200, 401):
                # Someone else on our port would answer too; make sure ours is alive.
                return self._proc.poll() is None
            time.sleep(0.02)
        return False

    def _kill(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)

    def stop(self) -> None:
        """Stop exactly the process started here, then remove the files made for it."""
        self._kill()
        for path in reversed(self._created):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        self._created.clear()

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# --- the quick-start's long-lived registry -----------------------------------


def _state_path(root: Path) -> Path:
    return root / "registry" / "registry.json"


def _pid_is_our_registry(pid: int, config_path: Path) -> bool:
    # A recycled pid must not be mistaken for the registry we started.
    if not _alive(pid):
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return (
        len(cmdline) >= 3
        and cmdline[0].endswith(b"docker-registry")
        and cmdline[2] == os.fsencode(config_path)
    )


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state letter follows the parenthesised command name.
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def demo_status(root: Path) -> str | None:
    """host:port of the demo registry under `root` if it runs and answers, else None."""
    try:
        state = json.loads(_state_path(root).read_text())
        pid, host, config_path = int(state["pid"]), str(state["host"]), Path(state["config"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if _pid_is_our_registry(pid, config_path) and probe(host) == 200:
        return host
    return None


@contextlib.contextmanager
def _locked(root: Path) -> Iterator[None]:
    # Two quick-starts at once must not start two registries.
    (root / "registry").mkdir(parents=True, exist_ok=True)
    with open(root / "registry" / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _spawn_detached(config_path: Path, log_path: Path) -> int:
    # The shell exits at once, so the registry is re-parented to init and
    # outlives the quick-start; `$!` is the registry itself (setsid only forks
    # when called as a group leader, which a background job is not).
    script = 'setsid "$0" serve "$1" </dev/null >>"$2" 2>&1 & echo $!'
    out = subprocess.run(
        ["sh", "-c", script, REGISTRY_BIN, str(config_path), str(log_path)],
        capture_output=True,
        text=True,
        check=True,
        env=_registry_env(),
    ).stdout
    return int(out.strip())


def _missing_demo_images(host: str) -> bool:
    conn = http.client.HTTPConnection(*host.rsplit(":", 1), timeout=5)
    try:
        for image in imagebuild.DEMO_IMAGES:
            conn.request(
                "HEAD",
                f"/v2/{image.name}/manifests/{image.tag}",
                headers={"Accept": imagebuild.OCI_MANIFEST},
            )
            resp = conn.getresponse()
            resp.read()
            if resp.status != 200:
                return True
    finally:
        conn.close()
    return False


def start_demo(root: Path, *, timeout: float = 15.0) -> str:
    """Make sure the demo registry runs under `root` with the demo images; return host:port.

    The registry keeps running after this process exits (state and pid in
    `root/registry/registry.json`, stop it with `stop_demo`). A running one
    that answers is reused; the images are built (cached in `root/build`) and
    pushed only when missing.
    """
    root = Path(root)
    with _locked(root):
        host = demo_status(root)
        if host is None:
            stop_demo(root, _locked_already=True)
            host = _start_detached(root, timeout)
        if _missing_demo_images(host):
            imagebuild.push_demo_images(root / "build", host)
        return host


def _start_detached(root: Path, timeout: float) -> str:
    if not os.access(REGISTRY_BIN, os.X_OK):
        raise RegistryStartError(f"{REGISTRY_BIN} missing: run `{imagebuild.INSTALL_HINT}`")
    regdir = root / "registry"
    config_path = regdir / "registry.yml"
    log_path = regdir / "registry.log"
    storage = regdir / "storage"
    storage.mkdir(parents=True, exist_ok=True)
    last_log = ""
    for _attempt in range(5):
        port = free_port()
        host = f"{LOOPBACK}:{port}"
        config = registry_config(storage, host)
        config_path.write_text(json.dumps(config, indent=1))
        log_start = log_path.stat().st_size if log_path.exists() else 0
        pid = _spawn_detached(config_path, log_path)
        _state_path(root).write_text(
            json.dumps({"pid": pid, "host": host, "config": str(config_path)})
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and _alive(pid):
            # Until setsid has exec'd, the pid still shows sh or setsid.
            if _pid_is_our_registry(pid, config_path) and probe(host) == 200:
                return host
            time.sleep(0.02)
        last_log = _tail(log_path, start=log_start)
        # Ours for sure: spawned a moment ago, even if it never reached exec.
        _terminate(pid, config_path, spawned_here=True)
        if "address already in use" not in last_log:
            break
    _state_path(root).unlink(missing_ok=True)
    raise RegistryStartError(f"demo registry did not start: {last_log or 'no log'}")


def _terminate(
    pid: int, config_path: Path, timeout: float = 5.0, *, spawned_here: bool = False
) -> None:
    if not (_pid_is_our_registry(pid, config_path) or (spawned_here and _alive(pid))):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _alive(pid):
            return
        time.sleep(0.02)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def stop_demo(root: Path, *, _locked_already: bool = False) -> bool:
    """Stop the demo registry of `root` if it runs; True when one was stopped.

    Stored images stay in `root/registry/storage`.
    """
    root = Path(root)
    lock = contextlib.nullcontext() if _locked_already else _locked(root)
    with lock:
        try:
            state = json.loads(_state_path(root).read_text())
            pid, config_path = int(state["pid"]), Path(state["config"])
        except (OSError, ValueError, KeyError, TypeError):
            return False
        running = _pid_is_our_registry(pid, config_path)
        _terminate(pid, config_path)
        _state_path(root).unlink(missing_ok=True)
        return running
