"""`volume create/ls/inspect/rm/prune` on a Docker/Podman engine, printed as
`docker volume ...` prints them; the table and --format go through the local
command's printer (commands/volume.py: print_volumes)."""

from __future__ import annotations

import argparse
import sys

from tuidock.cli.commands.volume import parse_volume_filters, print_volumes
from tuidock.cli.remote._shared import collect, daemon_text, daemon_words
from tuidock.errors import EngineUnreachable, NotFound, TuidockError, UsageError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend

ALL_VOLUMES_API = (1, 42)  # the first API version whose volume prune keeps named volumes


def _api_version(backend: DockerBackend) -> tuple[int, ...]:
    text = str(getattr(backend.api(), "_version", "0") or "0")
    return tuple(int(p) for p in text.split(".") if p.isdigit())


def _ls_row(vol: dict) -> dict:
    """A `volume ls` row with the docker CLI's fields (what the API lacks is N/A)."""
    usage = vol.get("UsageData") or {}
    size = usage.get("Size", -1)
    return {
        "Availability": "N/A",
        "Driver": vol.get("Driver") or "",
        "Group": "N/A",
        "Labels": vol.get("Labels") or {},
        "Links": str(usage.get("RefCount")) if usage.get("RefCount", -1) >= 0 else "N/A",
        "Mountpoint": vol.get("Mountpoint") or "",
        "Name": vol.get("Name") or "",
        "Scope": vol.get("Scope") or "local",
        "Size": str(size) if size >= 0 else "N/A",
        "Status": "N/A",
    }


@daemon_words
def cmd_volume_ls(args: argparse.Namespace, backend: DockerBackend) -> int:
    filters = parse_volume_filters(args.filter)
    answer = backend._call(lambda: backend.api().volumes(filters=filters or None))
    vols = sorted((answer or {}).get("Volumes") or [], key=lambda v: v.get("Name") or "")
    print_volumes([_ls_row(v) for v in vols], args)
    return 0


@daemon_words
def cmd_volume_create(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.runtime.container.options import parse_labels

    vol = backend._call(
        lambda: backend.api().create_volume(
            args.name, driver=args.driver, labels=parse_labels(args.label) or None
        )
    )
    print(vol.get("Name") or args.name)
    return 0


@daemon_words
def cmd_volume_inspect(args: argparse.Namespace, backend: DockerBackend) -> int:
    import json

    from tuidock.cli.output import render_template

    found, errors = collect(
        args.names, lambda n: backend._call(lambda: backend.api().inspect_volume(n))
    )
    if args.format:
        for vol in found:
            print(render_template(args.format, vol))
    else:
        print(json.dumps(found, indent=4))
    for err in errors:
        print(f"Error: {err}", file=sys.stderr)
    return 1 if errors else 0


@daemon_words
def cmd_volume_rm(args: argparse.Namespace, backend: DockerBackend) -> int:
    code = 0
    for name in args.names:
        try:
            backend._call(lambda n=name: backend.api().remove_volume(n, force=args.force))
        except EngineUnreachable:
            raise
        except NotFound as exc:
            if not args.force:  # -f: a missing volume is no error, as docker's
                print(f"Error: {daemon_text(exc)}", file=sys.stderr)
                code = 1
                continue
        except TuidockError as exc:
            sys.stdout.flush()
            print(f"Error: {daemon_text(exc)}", file=sys.stderr)
            code = 1
            continue
        print(name, flush=True)
    return code


@daemon_words
def cmd_volume_prune(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.cli.prune import confirm
    from tuidock.cli.remote.image import prune_filters
    from tuidock.core.prunefilter import parse_prune_filters

    parse_prune_filters(args.filter, allowed=("label",))
    filters = prune_filters(args.filter)
    version = _api_version(backend)
    # Before API 1.42 the engine prunes every unused volume, named or not, and
    # knows no "all" filter: the docker CLI then warns of all and refuses -a.
    what = "all local volumes not used by at least one container"
    if version >= ALL_VOLUMES_API:
        if args.all:
            filters["all"] = ["true"]
        else:
            what = "all anonymous local volumes not used by at least one container"
    elif args.all:
        shown = ".".join(map(str, version))
        raise UsageError(
            f'"--all" requires API version 1.42, but the Docker daemon API version is {shown}'
        )
    if not confirm(what, args.force):
        return 0
    report = backend._call(lambda: backend.api().prune_volumes(filters=filters or None))
    print(f"Total reclaimed space: {_human(print_volume_prune(report))}")
    return 0


def _human(size: int) -> str:
    from tuidock.core.humanize import human_size

    return human_size(size)


def print_volume_prune(report: dict) -> int:
    """The "Deleted Volumes:" section of a prune report; the bytes reclaimed."""
    deleted = report.get("VolumesDeleted") or []
    if deleted:
        print("Deleted Volumes:")
        print("\n".join(deleted))
        print()
    return int(report.get("SpaceReclaimed") or 0)
