"""Where the runtime directory goes when the session does not say."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

NOBODY = 65534


def _bare_env(**extra: str) -> dict[str, str]:
    # What ssh as root, cron or CI hand a process: no XDG_RUNTIME_DIR.
    env = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    env.update(extra)
    return env


def test_root_without_xdg_runtime_dir_uses_run_tuidock() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-W",
            "error",
            "-c",
            "from tuidock.runtime.store import paths; print(paths.runtime_dir())",
        ],
        capture_output=True,
        text=True,
        env=_bare_env(),
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "/run/tuidock"
    assert proc.stderr == ""


@pytest.fixture
def nobody_home() -> Iterator[Path]:
    # Not under tmp_path: pytest's base dir is 0700 to everyone but root.
    home = Path(tempfile.mkdtemp(prefix="tuidock-home-"))
    home.chmod(0o755)
    os.chown(home, NOBODY, NOBODY)
    try:
        yield home
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_user_without_xdg_runtime_dir_prints_no_warning(nobody_home: Path) -> None:
    home = nobody_home

    def drop() -> None:
        os.setgroups([])
        os.setgid(NOBODY)
        os.setuid(NOBODY)

    proc = subprocess.run(
        [sys.executable, "-m", "tuidock", "ps"],
        capture_output=True,
        text=True,
        env=_bare_env(HOME=str(home)),
        preexec_fn=drop,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("CONTAINER ID")
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "from tuidock.runtime.store import paths; print(paths.runtime_dir())",
        ],
        capture_output=True,
        text=True,
        env=_bare_env(HOME=str(home)),
        preexec_fn=drop,
        check=True,
    )
    assert probe.stdout.strip() == str(home / ".local/share/tuidock/run")
