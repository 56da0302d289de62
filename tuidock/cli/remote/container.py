"""Container lifecycle verbs on a Docker/Podman engine: start, stop, restart, kill,
rm, pause, unpause, wait, rename, commit, container prune.

As the docker CLI: each verb tries every name given, prints each name it
handled on stdout as given, prints the daemon's error for each that failed
("Error response from daemon: No such container: x") on stderr after the
others were tried, and exits 1 if any failed. An unreachable engine stops at
once with the one-line error (every other name would fail the same way).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from tuidock.errors import EngineUnreachable, TuidockError, UsageError

if TYPE_CHECKING:
    import argparse

    from tuidock.backends.docker import DockerBackend

_DAEMON = "Error response from daemon: "


def daemon_text(exc: TuidockError) -> str:
    """The line the docker CLI prints for a failed request: the daemon's own words."""
    return exc.message if exc.message.startswith(_DAEMON) else _DAEMON + exc.message


def each(
    names: list[str],
    action: Callable[[str], Any],
    show: Callable[[str, Any], str],
    summary: str = "",
) -> int:
    """`action` per name; `show(name, result)` is printed for each done, errors after all
    (then `summary: the failed names`, a line `docker start` adds)."""
    errors = []
    failed = []
    for name in names:
        try:
            result = action(name)
        except EngineUnreachable:
            raise
        except TuidockError as exc:
            errors.append(daemon_text(exc))
            failed.append(name)
            continue
        print(show(name, result))
        sys.stdout.flush()
    for line in errors:
        print(line, file=sys.stderr)
    if failed and summary:
        print(f"Error: {summary}: {', '.join(failed)}", file=sys.stderr)
    return 1 if errors else 0


def _name(name: str, _result: Any) -> str:
    return name


def cmd_start(args: argparse.Namespace, backend: DockerBackend) -> int:
    if args.attach or args.interactive:
        if len(args.containers) > 1:
            raise UsageError("you cannot start and attach multiple containers at once")
        from tuidock.cli.remote.container_run import attach_and_start

        return attach_and_start(backend, args.containers[0], args.interactive, sig_proxy=True)
    api = backend.api()
    start = lambda n: backend._call(api.start, n)  # noqa: E731
    return each(args.containers, start, _name, "failed to start containers")


def cmd_stop(args: argparse.Namespace, backend: DockerBackend) -> int:
    api = backend.api()
    return each(args.containers, lambda n: backend._call(api.stop, n, timeout=args.time), _name)


def cmd_restart(args: argparse.Namespace, backend: DockerBackend) -> int:
    api = backend.api()
    # The SDK's restart needs a number; None would be sent as "t=None".
    timeout = 10 if args.time is None else args.time
    return each(args.containers, lambda n: backend._call(api.restart, n, timeout=timeout), _name)


def cmd_kill(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.core.flagvalues import signal_number

    signal_number(args.signal)  # a bad signal is a usage error, before anything is done
    api = backend.api()
    return each(args.containers, lambda n: backend._call(api.kill, n, args.signal), _name)


def cmd_rm(args: argparse.Namespace, backend: DockerBackend) -> int:
    api = backend.api()

    def remove(name: str) -> None:
        backend._call(api.remove_container, name, v=args.volumes, force=args.force)

    return each(args.containers, remove, _name)


def cmd_pause(args: argparse.Namespace, backend: DockerBackend) -> int:
    api = backend.api()
    return each(args.containers, lambda n: backend._call(api.pause, n), _name)


def cmd_unpause(args: argparse.Namespace, backend: DockerBackend) -> int:
    api = backend.api()
    return each(args.containers, lambda n: backend._call(api.unpause, n), _name)


def cmd_wait(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.backends.docker import make_client

    # A wait can outlast any read timeout: its own client without one.
    api = make_client(backend.endpoint, timeout=None)  # type: ignore[arg-type]
    try:
        return each(
            args.containers,
            lambda n: backend._call(api.wait, n),
            lambda _n, result: str(result.get("StatusCode", 0)),
        )
    finally:
        api.close()


def cmd_rename(args: argparse.Namespace, backend: DockerBackend) -> int:
    try:
        backend._call(backend.api().rename, args.container, args.new_name)
    except EngineUnreachable:
        raise
    except TuidockError as exc:
        print(daemon_text(exc), file=sys.stderr)
        return 1
    return 0


def cmd_commit(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.backends.docker import image_id

    repo, tag = None, None
    if args.reference:
        from docker.utils import parse_repository_tag

        repo, tag = parse_repository_tag(args.reference)
    api = backend.api()
    params: dict[str, Any] = {"pause": args.pause}
    if args.change:
        params["changes"] = args.change
    made = backend._call(
        lambda: api.commit(
            args.container,
            repository=repo,
            tag=tag,
            message=args.message or None,
            author=args.author or None,
            **params,
        )
    )
    print(image_id(made["Id"]))
    return 0


def cmd_prune(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.cli.prune import confirm
    from tuidock.core.humanize import human_size
    from tuidock.core.prunefilter import parse_prune_filters

    parse_prune_filters(args.filter)  # the local command's checks and messages
    filters: dict[str, list[str]] = {}
    for item in args.filter:
        key, _, value = item.partition("=")  # `label!` is the API's key for label!=
        filters.setdefault(key.strip().lower(), []).append(value)
    if not confirm("all stopped containers", args.force):
        return 0
    api = backend.api()
    res = backend._call(lambda: api.prune_containers(filters=filters or None))
    removed = res.get("ContainersDeleted") or []
    if removed:
        print("Deleted Containers:")
        for cid in removed:
            print(cid)
        print()
    print(f"Total reclaimed space: {human_size(int(res.get('SpaceReclaimed') or 0))}")
    return 0
