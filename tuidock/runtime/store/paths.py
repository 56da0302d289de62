"""Where tuidock keeps its data, its configuration and its runtime files."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

APP = "tuidock"


def data_root() -> Path:
    """$TUIDOCK_ROOT, else the platform's user data dir (root: /var/lib/tuidock)."""
    env = os.environ.get("TUIDOCK_ROOT")
    if env:
        return Path(env)
    if os.geteuid() == 0:
        return Path("/var/lib") / APP
    import platformdirs

    return Path(platformdirs.user_data_dir(APP))


def config_dir() -> Path:
    """$TUIDOCK_CONFIG, else the platform's user config dir."""
    env = os.environ.get("TUIDOCK_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir(APP))


def runtime_dir() -> Path:
    """Sockets and pid files: chosen here, never by platformdirs' fallback.

    $TUIDOCK_RUNTIME_DIR wins; a private $TUIDOCK_ROOT keeps its own (a test or
    a second instance must not share sockets); root uses /run/tuidock, as
    Docker uses /run/docker; others use $XDG_RUNTIME_DIR/tuidock, or
    <data root>/run when the session has none (ssh as root, cron, CI), where
    platformdirs would warn on stderr and fall back to a /tmp path that any
    user could have created first.
    """
    env = os.environ.get("TUIDOCK_RUNTIME_DIR")
    if env:
        return Path(env)
    if os.environ.get("TUIDOCK_ROOT"):
        return data_root() / "run"
    if os.geteuid() == 0:
        return Path("/run") / APP
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg and os.path.isabs(xdg):
        return Path(xdg) / APP
    return data_root() / "run"


def disk_usage(path: Path) -> int:
    """Bytes the tree below `path` takes on disk (du's blocks; entries that vanish count 0)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + dirnames:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                continue
    return total


def tree_size(path: Path | str) -> int:
    """Apparent size of what a directory holds (Docker's SizeRw counts file sizes)."""
    total = 0
    for dirpath, dirnames, filenames in os.walk(path):
        for name in filenames + dirnames:
            with contextlib.suppress(OSError):
                st = os.lstat(os.path.join(dirpath, name))
                if name in filenames:
                    total += st.st_size
    return total
