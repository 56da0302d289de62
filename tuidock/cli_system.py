"""System commands: version, and the offline demo behind the README quick-start."""

from __future__ import annotations

import argparse
import sys

from tuidock import __version__
from tuidock.errors import TuidockError

HUB_HOST = "registry-1.docker.io"


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("version", help="Show the tuidock version information")
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


def cmd_version(args: argparse.Namespace) -> int:
    import platform  # here, not at the top: every CLI call imports this module

    print(f"tuidock version {__version__}")
    print(f" Python:  {platform.python_version()}")
    print(f" OS/Arch: {platform.system().lower()}/{platform.machine()}")
    return 0


def hub_reachable(timeout: float = 3.0) -> bool:
    import socket

    try:
        with socket.create_connection((HUB_HOST, 443), timeout=timeout):
            return True
    except OSError:
        return False


def cmd_demo(args: argparse.Namespace) -> int:
    from tuidock.demo import registry as demo_registry
    from tuidock.runtime import paths
    from tuidock.runtime.reference import DEFAULT_DOMAIN
    from tuidock.runtime.registry.config import remove_mirror, write_mirror

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
    from tuidock.engine import default_engine

    # Pulled through the mirror, as a user would: the UI opens with images to try.
    engine = default_engine()
    for name in ("busybox", "demo/multilayer"):
        result = engine.pull(name)
        print(f"Pulled {name} ({result.image.short_id})")
    print("Try: tuidock run --rm demo/multilayer   or open the UI: tuidock")
    return 0
