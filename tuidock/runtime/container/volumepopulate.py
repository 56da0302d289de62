"""Filling a new volume from the image, in a process with a mount namespace of its own.

Docker copies what the image has at a volume's mount point into a new,
empty volume. The image is seen through a read-only overlay of its layers,
mounted for the copy. That mount is made in this child's own, private mount
namespace: whatever ends the child (an error, SIGKILL of it or of the CLI
that started it), the kernel drops the mount with the namespace, so no
overlay is ever left on the host. Run as
`python -m tuidock.runtime.container.volumepopulate DATA TARGET LOWER...`; an error is
one line on stderr and exit status 1.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from tuidock.errors import TuidockError

VIEW = ".populate"  # next to the volume's data directory; goes with the volume


def populate(volume_data: Path, lower_dirs: Sequence[str], target: str) -> None:
    """Copy the image's content at `target` into `volume_data` if it is empty."""
    if not lower_dirs or any(volume_data.iterdir()):
        return
    import subprocess

    res = subprocess.run(
        [sys.executable, "-m", __name__, str(volume_data), target, *lower_dirs],
        capture_output=True,
        text=True,
    )
    if res.returncode != 0:
        lines = res.stderr.strip().splitlines() or [f"exit status {res.returncode}"]
        raise TuidockError(f"cannot fill the volume from the image: {lines[-1]}")


def _copy(volume_data: Path, lower_dirs: Sequence[str], target: str) -> None:
    from tuidock.runtime.linux import syscalls as sc
    from tuidock.runtime.linux.overlay import mount_overlay

    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    view = volume_data.parent / VIEW
    view.mkdir(mode=0o700, exist_ok=True)
    mount_overlay([Path(p) for p in lower_dirs], view)
    # The image's own symlinks are not followed: the view's real path must stay in it.
    src = os.path.realpath(os.path.join(view, target.lstrip("/")))
    if not src.startswith(str(view) + os.sep) or not os.path.isdir(src) or not os.listdir(src):
        return  # missing, not a directory, leaving the image, or empty: the volume stays empty
    import subprocess

    # cp -a keeps owners, modes, xattrs, links and times: the volume looks as the image.
    res = subprocess.run(
        ["cp", "-a", "--", src + "/.", str(volume_data)], capture_output=True, text=True
    )
    if res.returncode != 0:
        raise TuidockError(f"cp {target}: {res.stderr.strip()}")
    st = os.stat(src)
    os.chown(volume_data, st.st_uid, st.st_gid)
    os.chmod(volume_data, st.st_mode & 0o7777)


def main(argv: list[str]) -> int:
    data, target, *lowers = argv
    try:
        _copy(Path(data), lowers, target)
    except (TuidockError, OSError) as exc:
        print(getattr(exc, "message", None) or exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
