"""A throwaway OpenSSH server on loopback whose `docker` reaches a private engine.

What an ssh:// endpoint needs on the far side, made in one temp dir: a host
key and a user key (ed25519, ssh-keygen), an sshd_config listening on
127.0.0.1:PORT only (PermitRootLogin prohibit-password, keys only, the temp
dir's authorized_keys, no PAM) with `SetEnv DOCKER_HOST=...` so that the
session's `docker system dial-stdio` talks to the test's dockerd, not the
host's. `/usr/sbin/sshd -D -e` runs in the foreground; `stop()` signals that
PID and removes the dir.

The client side never touches ~/.ssh (OpenSSH reads the passwd entry's home,
not $HOME): `client_env()` gives a PATH whose first `ssh` is a wrapper
running `/usr/bin/ssh -F <temp config>`, the config naming the temp user key
and a known_hosts file that holds the host key (`known=False`: one that does
not, for the unknown host key case).
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

SSHD_BIN = "/usr/sbin/sshd"
SSH_BIN = "/usr/bin/ssh"


class SSHDUnavailable(RuntimeError):
    pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> str:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "tuidock-test", "-f", str(path)],
        check=True,
        capture_output=True,
        timeout=30,
    )
    return path.with_suffix(".pub").read_text().strip()


@dataclass
class SSHD:
    dir: Path
    port: int
    proc: subprocess.Popen
    host_pub: str
    log: Path

    def host(self, user: str = "root") -> str:
        return f"ssh://{user}@127.0.0.1:{self.port}"

    def client_env(self, known: bool = True) -> dict[str, str]:
        """Environment changes for the ssh client: PATH to the wrapper of this config."""
        name = "known" if known else "unknown"
        return {"PATH": f"{self.dir / f'bin-{name}'}{os.pathsep}{os.environ.get('PATH', '')}"}

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        shutil.rmtree(self.dir, ignore_errors=True)


def _client(base: Path, name: str, port: int, key: Path, known_hosts: str) -> None:
    hosts = base / f"known_hosts-{name}"
    hosts.write_text(known_hosts)
    config = base / f"ssh_config-{name}"
    config.write_text(
        "Host 127.0.0.1\n"
        f"  Port {port}\n"
        f"  IdentityFile {key}\n"
        "  IdentitiesOnly yes\n"
        f"  UserKnownHostsFile {hosts}\n"
        "  GlobalKnownHostsFile /dev/null\n"
        "  StrictHostKeyChecking yes\n"
        "  ConnectTimeout 10\n"
    )
    bindir = base / f"bin-{name}"
    bindir.mkdir()
    wrapper = bindir / "ssh"
    wrapper.write_text(f'#!/bin/sh\nexec {SSH_BIN} -F {config} "$@"\n')
    wrapper.chmod(0o755)


def start_sshd(docker_host: str, timeout: float = 20) -> SSHD:
    """An sshd on 127.0.0.1 whose sessions see DOCKER_HOST=`docker_host`."""
    for tool in (SSHD_BIN, SSH_BIN):
        if not os.access(tool, os.X_OK):
            raise SSHDUnavailable(f"{tool} is not installed (scripts/test-deps.sh installs it)")
    if not shutil.which("docker"):
        raise SSHDUnavailable("no docker CLI for `docker system dial-stdio` on the sshd side")
    base = Path(tempfile.mkdtemp(prefix="tuidock-sshd-"))
    base.chmod(0o700)
    host_pub = _keygen(base / "host_key")
    user_pub = _keygen(base / "user_key")
    (base / "authorized_keys").write_text(user_pub + "\n")
    port = _free_port()
    (base / "sshd_config").write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {base / 'host_key'}\n"
        f"PidFile {base / 'sshd.pid'}\n"
        f"AuthorizedKeysFile {base / 'authorized_keys'}\n"
        "PermitRootLogin prohibit-password\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "UsePAM no\n"
        "StrictModes no\n"
        f"SetEnv DOCKER_HOST={docker_host}\n"
        "LogLevel VERBOSE\n"
    )
    _client(base, "known", port, base / "user_key", f"[127.0.0.1]:{port} {host_pub}\n")
    _client(base, "unknown", port, base / "user_key", "")
    # sshd's privilege separation directory (Debian's unit makes it at boot).
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    log = base / "sshd.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SSHD_BIN, "-D", "-e", "-f", str(base / "sshd_config")],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    sshd = SSHD(base, port, proc, host_pub, log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(4).startswith(b"SSH-"):
                    return sshd
        except OSError:
            time.sleep(0.1)
    tail = log.read_text(errors="replace")[-1500:]
    sshd.stop()
    raise SSHDUnavailable(f"sshd did not start: {tail.strip()}")
