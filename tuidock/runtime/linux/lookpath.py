"""Finding a command in $PATH the way Go's exec.LookPath (runc) does."""

from __future__ import annotations

import os
import stat


def look_path(name: str, path: str) -> str | None:
    """What execve should run for `name`; None if no executable file matches."""
    if "/" in name:
        return name
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", name)
        try:
            st = os.stat(candidate)
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and st.st_mode & 0o111:
            return candidate
    return None
