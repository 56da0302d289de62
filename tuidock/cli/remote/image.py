"""images, rmi, tag, inspect, image prune, history, save, load and import on a
Docker/Podman engine, printed as the docker CLI prints them for that engine.

The tables, -q and --format go through the local command's printers
(commands/image.py: print_images, print_history), so both engines' outputs
share one layout; only the rows are made here, from the Engine API's answers.
"""

from __future__ import annotations

import argparse
import os

from tuidock.cli.commands.image import archive_stdin, archive_stdout, inspect_objects, print_history
from tuidock.cli.remote._shared import (
    ago,
    daemon_text,
    each,
    get_only,
    go_time,
    short_id,
    stream_json,
    unix_of,
)
from tuidock.errors import NotFound, TuidockError

TYPE_CHECKING = False
if TYPE_CHECKING:
    from tuidock.backends.docker import DockerBackend
    from tuidock.cli.remote._shared import Reader


def _familiar(name: str) -> str:
    from tuidock.core.reference import parse

    try:
        return parse(name, default_tag=False).familiar_name
    except TuidockError:
        return name


def _split(refs: list[str] | None, sep: str) -> dict[str, list[str]]:
    """repo (familiar) -> tags or digests, in the order the engine gave them."""
    out: dict[str, list[str]] = {}
    for ref in refs or []:
        if ref in ("<none>:<none>", "<none>@<none>"):
            continue
        name, _, value = ref.rpartition(sep)
        if name:
            out.setdefault(_familiar(name), []).append(value)
    return out


def image_rows(images: list[dict], digests: bool, no_trunc: bool) -> list[dict]:
    """Docker's rows of `images`: one per repository tag (per digest too with
    --digests), digest-only references as `<none>` tags, `<none>` for an image
    without either."""
    from tuidock.backends.unixget import image_id
    from tuidock.core.humanize import human_size

    rows = []
    for img in images:
        tags = _split(img.get("RepoTags"), ":")
        repo_digests = _split(img.get("RepoDigests"), "@")
        names: list[tuple[str, str, str]] = []
        for repo, repo_tags in tags.items():
            dgs = repo_digests.pop(repo, []) if digests else []
            if not digests:
                repo_digests.pop(repo, None)
            for tag in repo_tags:
                names += [(repo, tag, d) for d in dgs] or [(repo, tag, "<none>")]
        for repo, dgs in repo_digests.items():
            names += [(repo, "<none>", d) for d in dgs] if digests else [(repo, "<none>", "<none>")]
        if not names:
            names = [("<none>", "<none>", "<none>")]
        created = unix_of(img.get("Created"))
        size = int(img.get("Size") or 0)
        shared = img.get("SharedSize", -1)
        containers = img.get("Containers", -1)
        for repo, tag, digest in names:
            rows.append(
                {
                    "Containers": str(containers) if containers not in (None, -1) else "N/A",
                    "CreatedAt": go_time(created),
                    "CreatedSince": ago(created),
                    "Digest": digest,
                    "ID": short_id(image_id(img.get("Id", "")), no_trunc),
                    "Repository": repo,
                    "SharedSize": human_size(shared, 4) if shared not in (None, -1) else "N/A",
                    "Size": human_size(size),
                    "Tag": tag,
                    "UniqueSize": human_size(size - shared, 4)
                    if shared not in (None, -1)
                    else "N/A",
                    "VirtualSize": human_size(int(img.get("VirtualSize") or size), 4),  # HumanSize
                }
            )
    return rows


def images_query(args: argparse.Namespace) -> dict:
    """The query of GET /images/json, as the SDK's `images()` sends it."""
    import json

    query: dict[str, object] = {"only_ids": 0, "all": 1 if args.all else 0}
    if args.repository:
        query["filters"] = json.dumps({"reference": [args.repository]})
    return query


@get_only
def cmd_images(args: argparse.Namespace, reader: Reader) -> int:
    from tuidock.cli.commands.image import print_images

    images = reader.get("/images/json", images_query(args)) or []
    # The daemon sorts by creation, newest first; Podman's compat API does not.
    images.sort(key=lambda i: unix_of(i.get("Created")), reverse=True)
    # Docker's daemon answers a reference filter with the matching names only,
    # Podman's with all the names of a matching image: the docker CLI shows what
    # it gets, so do these rows.
    print_images(image_rows(images, args.digests, args.no_trunc), args)
    return 0


def cmd_rmi(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.backends.docker import image_id

    def remove(name: str) -> None:
        report = backend._call(lambda: backend.api().remove_image(name, force=args.force))
        for item in report or []:
            if "Untagged" in item:
                print(f"Untagged: {item['Untagged']}")
            if "Deleted" in item:
                print(f"Deleted: {image_id(item['Deleted'])}")

    return each(args.images, remove)


def cmd_tag(args: argparse.Namespace, backend: DockerBackend) -> int:
    backend.tag(args.source, args.target)
    return 0


def cmd_inspect(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.cli.output import print_inspect

    out, errors = inspect_objects(
        args.names,
        getattr(args, "type", None),
        lambda n: backend._call(lambda: backend.api().inspect_container(n)),
        lambda n: backend._call(lambda: backend.api().inspect_image(n)),
    )
    return print_inspect(out, [daemon_text(TuidockError(e)) for e in errors], args.format)


def prune_filters(specs: list[str], **fixed: str) -> dict[str, list[str]]:
    """The Engine API's prune filters: the specs (checked as the local prune checks
    them) by key, with `fixed` ones (dangling=...) added."""
    from tuidock.core.prunefilter import parse_prune_filters

    parse_prune_filters(specs)
    out: dict[str, list[str]] = {k: [v] for k, v in fixed.items()}
    for spec in specs:
        key, _, value = spec.partition("=")
        out.setdefault(key.strip(), []).append(value)
    return out


def print_image_prune(report: dict) -> int:
    """The "Deleted Images:" section of a prune report; the bytes reclaimed."""
    from tuidock.backends.docker import image_id

    lines = []
    for item in report.get("ImagesDeleted") or []:
        if item.get("Untagged"):
            lines.append(f"untagged: {item['Untagged']}")
        if item.get("Deleted"):
            lines.append(f"deleted: {image_id(item['Deleted'])}")
    if lines:
        print("Deleted Images:")
        print("\n".join(lines))
        print()
    return int(report.get("SpaceReclaimed") or 0)


def cmd_image_prune(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.cli.prune import confirm
    from tuidock.core.humanize import human_size

    filters = prune_filters(args.filter, dangling="false" if args.all else "true")
    what = (
        "all images without at least one container associated to them"
        if args.all
        else "all dangling images"
    )
    if not confirm(what, args.force):
        return 0
    report = backend._call(lambda: backend.api().prune_images(filters=filters))
    print(f"Total reclaimed space: {human_size(print_image_prune(report))}")
    return 0


def cmd_history(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.backends.base import HistoryEntry
    from tuidock.backends.docker import image_id

    rows = backend._call(lambda: backend.api().history(args.image))
    entries = []
    for r in rows:
        created = unix_of(r.get("Created"))
        when = _local_rfc3339(created) if created else ""
        entries.append(
            HistoryEntry(
                # Whole, the ID as the engine gives it (Podman's lack "sha256:"), as docker's.
                (r.get("Id") or "<missing>")
                if args.no_trunc
                else image_id(r.get("Id") or "<missing>"),
                when,
                r.get("CreatedBy") or "",
                int(r.get("Size") or 0),
                r.get("Comment") or "",
            )
        )
    print_history(entries, args)
    return 0


def _local_rfc3339(unix: float) -> str:
    """Go's time.RFC3339 in local time, as `history -H=false` prints CREATED."""
    from datetime import datetime

    text = datetime.fromtimestamp(int(unix)).astimezone().isoformat()
    return text.replace("+00:00", "Z")


# -- save, load, import -----------------------------------------------------------------


def cmd_save(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.runtime.store import scratch

    def copy(out) -> None:
        api = backend.api()
        with backend._call(
            lambda: api._get(api._url("/images/get"), params={"names": args.images}, stream=True)
        ) as res:
            backend._call(lambda: api._raise_for_status(res))
            for chunk in res.iter_content(1 << 20):
                out.write(chunk)
        out.flush()

    if not args.output:
        copy(archive_stdout())
        return 0
    # Beside the destination for an atomic rename: a failed save leaves no file.
    tmp = scratch.save_temp(args.output)
    try:
        with open(tmp, "wb") as f:
            copy(f)
        os.replace(tmp, args.output)
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)
    return 0


def _print_stream(backend: DockerBackend, response) -> list[str]:
    """Print a streamed answer's lines (load, import); their texts, errors raised."""
    texts = []
    with backend._call(lambda: response):
        for msg in backend._call(lambda: list(stream_json(backend, response))):
            if msg.get("error"):
                raise TuidockError(" ".join(str(msg["error"]).split()))
            text = msg.get("stream") or msg.get("status") or ""
            if text:
                texts.append(text.rstrip("\n"))
    return texts


def cmd_load(args: argparse.Namespace, backend: DockerBackend) -> int:
    api = backend.api()

    def post(src):
        return backend._call(
            lambda: api._post(
                api._url("/images/load"),
                data=src,
                params={"quiet": "1" if args.quiet else "0"},
                headers={"Content-Type": "application/x-tar"},
                stream=True,
            )
        )

    if args.input:
        try:
            src = open(args.input, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise TuidockError(f"open {args.input}: {exc.strerror.lower()}") from None
        with src:
            texts = _print_stream(backend, post(src))
    else:
        texts = _print_stream(backend, post(archive_stdin()))
    if not args.quiet:
        for text in texts:
            # Podman's compat load answers "Loaded image: a,b" for several; Docker one line each.
            if text.startswith("Loaded image: ") and "," in text:
                for name in text.removeprefix("Loaded image: ").split(","):
                    print(f"Loaded image: {name}")
            else:
                print(text)
    return 0


def cmd_import(args: argparse.Namespace, backend: DockerBackend) -> int:
    from tuidock.runtime.image.urlsource import is_url

    api = backend.api()
    params: dict = {"fromSrc": "-", "message": args.message, "changes": list(args.change or [])}
    if args.reference:
        # The whole reference in repo, as the docker CLI sends it: Podman ignores a
        # separate tag parameter on import.
        params["repo"] = args.reference

    def post(data):
        return backend._call(
            lambda: api._post(
                api._url("/images/create"),
                params=params,
                data=data,
                headers={"Content-Type": "application/tar"},
                stream=True,
            )
        )

    if args.file == "-":
        texts = _print_stream(backend, post(archive_stdin()))
    elif is_url(args.file):
        params["fromSrc"] = args.file
        texts = _print_stream(backend, post(None))
    else:
        try:
            src = open(args.file, "rb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise NotFound(f"open {args.file}: {exc.strerror.lower()}") from None
        with src:
            texts = _print_stream(backend, post(src))
    # The last status is the new image's ID, what docker import prints.
    ids = [t for t in texts if t.startswith("sha256:") or len(t) == 64]
    if ids:
        from tuidock.backends.docker import image_id

        print(image_id(ids[-1].strip()))
    return 0
