"""The UI's way into a container: which shell, and the command line that runs it.

The UI's shell pane runs `shell_command(...)` in a PTY of its own: the
same `tuidock exec -it` the CLI runs, so there is one code path for
joining, the terminal and the exit code (the pane's process exit status
is the shell's). The pane resizes its PTY with `resize`; the exec client
inside passes the size on to the container's terminal.

Shell detection, first that is an executable file in the container:
the `shell` argument, $TUIDOCK_SHELL, `exec_shell` in ui.toml (config
dir), then /bin/bash, then /bin/sh. Paths are looked up in the
container's own root (symlinks followed inside it, never out of it).
"""

from __future__ import annotations

import os
import stat
import sys

from tuidock.errors import TuidockError
from tuidock.runtime.container.exec.client import Target, find_container
from tuidock.runtime.container.exec.relay import resize

__all__ = ["detect_shell", "resize", "shell_command"]

FALLBACKS = ("/bin/bash", "/bin/sh")


def configured_shell() -> str | None:
    """$TUIDOCK_SHELL, else `exec_shell = "..."` in <config dir>/ui.toml."""
    env = os.environ.get("TUIDOCK_SHELL", "").strip()
    if env:
        return env
    from tuidock.core.uisettings import load_ui_config
    from tuidock.runtime.store import paths

    return load_ui_config(paths.config_dir()).exec_shell


def _candidates(shell: str | None, path_env: str) -> list[str]:
    wanted = [s for s in (shell, configured_shell()) if s]
    out: list[str] = []
    for name in wanted:
        if "/" in name:
            out.append(name)
        else:  # a bare name: where the container's PATH would find it
            out += [os.path.join(d, name) for d in path_env.split(":") if d.startswith("/")]
    out += [f for f in FALLBACKS if f not in out]
    return out


def _is_executable(rootfd: int, path: str) -> bool:
    from tuidock.runtime.linux.scopedpath import open_in_root

    try:
        fd = open_in_root(rootfd, path)
    except OSError:
        return False
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    return stat.S_ISREG(st.st_mode) and bool(st.st_mode & 0o111)


def _open_root(target: Target) -> int:
    """PID 1's root directory, checked to belong to PID 1 (not a reused pid)."""
    from tuidock.runtime.linux.procwatch import proc_start_time

    try:
        fd = os.open(f"/proc/{target.pid}/root", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        raise TuidockError(f"container {target.cid} is not running") from None
    current = proc_start_time(target.pid)
    if current is None or (target.start_time is not None and current != target.start_time):
        os.close(fd)
        raise TuidockError(f"container {target.cid} is not running")
    return fd


def detect_shell(container: str | Target, shell: str | None = None) -> str:
    """The shell to open in `container` (see the module's docstring)."""
    target = container if isinstance(container, Target) else find_container(container)
    path_env = ""
    for item in target.spec.get("env") or []:
        if item.startswith("PATH="):
            path_env = item[5:]
    rootfd = _open_root(target)
    try:
        candidates = _candidates(shell, path_env or "/usr/local/bin:/usr/bin:/bin")
        for path in candidates:
            if _is_executable(rootfd, path):
                return path
    finally:
        os.close(rootfd)
    name = target.spec.get("hostname") or target.cid[:12]
    raise TuidockError(
        f"no shell in container {name}: none of {', '.join(candidates)} is an executable file",
        hint="Run a command in it instead: tuidock exec -it CONTAINER COMMAND",
    )


def shell_command(container: str | Target, shell: str | None = None) -> list[str]:
    """`[python, -m, tuidock, exec, -it, <id>, <shell>]`, for the UI to run in its PTY.

    The command inherits the caller's environment ($TUIDOCK_ROOT). Raises
    TuidockError (a one-line message for the UI) when the container is not
    running or has no shell.
    """
    target = container if isinstance(container, Target) else find_container(container)
    return [sys.executable, "-m", "tuidock", "exec", "-it", target.cid, detect_shell(target, shell)]
