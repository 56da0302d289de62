"""System commands: version, and the offline demo behind the README quick-start."""

from __future__ import annotations

import argparse
import sys

from tuidock import __version__
from tuidock.errors import TuidockError

HUB_HOST = "registry-1.docker.io"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("version", help="Show the tuidock version information")
    p.add_argument("-f", "--format", help="Format output: json, or a Go-style template")
    p.set_defaults(handler=cmd_version)

    p = sub.add_parser(
        "demo",
        help="Serve demo images from a loopback registry when Docker Hub is out of reach",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        help="Do not probe Docker Hub; always use the local demo registry",
    )
    p.add_argument("--stop", action="store_true", help="Stop the demo registry and drop the mirror")
    p.set_defaults(handler=cmd_demo)


def version_info() -> dict:
    """`version` as Podman shows it for a daemonless engine: one Client section.

    Python stands where Go's version is; the runtime pieces are what the
    engine uses on this host (kernel, cgroup hierarchy, storage).
    """
    import platform  # here, not at the top: every CLI call imports this module

    from tuidock.runtime.linux.cgroups import cgroup_version

    commit, built = git_commit()
    machine = platform.machine()
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
    return {
        "Client": {
            "Version": __version__,
            "APIVersion": __version__,
            "PythonVersion": platform.python_version(),
            "PythonImplementation": platform.python_implementation(),
            "GitCommit": commit,
            "GitCommitTime": built,
            "Os": "linux",
            "Arch": arch,
            "OsArch": f"linux/{arch}",
            "KernelVersion": platform.release(),
            "CgroupVersion": cgroup_version(),
            "StorageDriver": "overlay",
        }
    }


def git_commit() -> tuple[str, str]:
    """(commit, time of its ref) of the checkout tuidock runs from; empty if installed otherwise.

    Read from the files under .git, not by running git: `version` stays cheap.
    """
    import os
    import time

    import tuidock

    top = os.path.dirname(os.path.dirname(os.path.abspath(tuidock.__file__)))
    gitdir = os.path.join(top, ".git")
    try:
        if os.path.isfile(gitdir):  # a worktree: "gitdir: <path>"
            with open(gitdir) as f:
                gitdir = f.read().split(":", 1)[1].strip()
        with open(os.path.join(gitdir, "HEAD")) as f:
            head = f.read().strip()
        if not head.startswith("ref: "):
            return head, ""
        ref = head[5:]
        for base in (gitdir, _common_dir(gitdir)):
            path = os.path.join(base, ref)
            if os.path.isfile(path):
                with open(path) as f:
                    when = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(os.path.getmtime(path)))
                    return f.read().strip(), when
            packed = os.path.join(base, "packed-refs")
            if os.path.isfile(packed):
                with open(packed) as f:
                    for line in f:
                        sha, _, name = line.strip().partition(" ")
                        if name == ref:
                            return sha, ""
    except (OSError, IndexError):
        pass
    return "", ""


def _common_dir(gitdir: str) -> str:
    import os

    try:
        with open(os.path.join(gitdir, "commondir")) as f:
            return os.path.normpath(os.path.join(gitdir, f.read().strip()))
    except OSError:
        return gitdir


def cmd_version(args: argparse.Namespace) -> int:
    doc = version_info()
    if args.format:
        from tuidock.cli.output import print_formatted

        print_formatted(args.format, [doc])
        return 0
    c = doc["Client"]
    rows = [
        ("Client:", "tuidock engine (daemonless)"),
        ("Version:", c["Version"]),
        ("API Version:", c["APIVersion"]),
        ("Python Version:", f"{c['PythonImplementation']} {c['PythonVersion']}"),
        ("Git Commit:", c["GitCommit"][:12] or "unknown"),
        ("Committed:", c["GitCommitTime"] or "unknown"),
        ("OS/Arch:", c["OsArch"]),
        ("Kernel Version:", c["KernelVersion"]),
        ("Cgroup Version:", c["CgroupVersion"]),
        ("Storage Driver:", c["StorageDriver"]),
    ]
    for label, value in rows:
        print(f"{label:<16}{value}")
    return 0


def hub_reachable(timeout: float = 3.0) -> bool:
    import socket

    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def cmd_demo(args: argparse.Namespace) -> int:
    from tuidock.core.reference import DEFAULT_DOMAIN
    from tuidock.demo import registry as demo_registry
    from tuidock.runtime.image.registry.config import remove_mirror, write_mirror
    from tuidock.runtime.store import paths

    root = paths.data_root() / "demo"
    if args.stop:
        host = demo_registry.demo_status(root)
        demo_registry.stop_demo(root)
        if host:
            remove_mirror(DEFAULT_DOMAIN, host)
        print("Demo registry stopped.")
        return 0
    if not args.offline and hub_reachable():
        print("Docker Hub is reachable: no demo registry needed. Try: tuidock pull busybox")
        return 0
    print("Docker Hub is out of reach: starting a demo registry on loopback...", file=sys.stderr)
    try:
        host = demo_registry.start_demo(root)
    except (demo_registry.RegistryStartError, RuntimeError, OSError) as exc:
        raise TuidockError(
            f"cannot start the demo registry: {str(exc).splitlines()[0]}",
            "Install its tools: apt-get install docker-registry skopeo umoci busybox-static",
        ) from None
    cfg = write_mirror(DEFAULT_DOMAIN, host)
    print(f"Demo registry at {host} mirrors docker.io ({cfg}).")
    from tuidock.runtime.engine import default_engine

    # Pulled through the mirror, as a user would: the UI opens with images to try.
    engine = default_engine()
    for name in ("busybox", "demo/multilayer"):
        result = engine.pull(name)
        print(f"Pulled {name} ({result.image.short_id})")
    print("Try: tuidock run --rm demo/multilayer   or open the UI: tuidock")
    return 0
