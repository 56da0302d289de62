"""`tuidock context ...`: the engines a command or the UI can talk to, as `docker context`.

Output follows the docker CLI's: `ls` has its columns (NAME DESCRIPTION
DOCKER ENDPOINT ERROR, `*` after the current one), `create` and `use` print
the name on stdout and a sentence on stderr, `inspect` prints a JSON array
shaped like docker's. Differences: discovered engines are listed too (their
description says so, and ERROR says why one is unreachable), and a created
context keeps the paths of its TLS files where docker copies the files.
"""

from __future__ import annotations

import argparse
import sys

from tuidock.cli.lazy import lazy_command


def _build(p: argparse.ArgumentParser) -> None:
    p.set_defaults(subparser=p)
    sub = p.add_subparsers(dest="context_command", metavar="COMMAND")
    for name in ("ls", "list"):
        ls = sub.add_parser(name, help="List contexts" if name == "ls" else None)
        ls.add_argument("-q", "--quiet", action="store_true", help="Only show context names")
        ls.add_argument("--format", help="Format the output: json, or a Go template")
        ls.set_defaults(handler=cmd_ls)
    c = sub.add_parser("create", help="Create a context")
    c.add_argument("name", metavar="CONTEXT")
    c.add_argument("--description", default="", help="Description of the context")
    c.add_argument("-H", "--host", help="Engine endpoint: unix://, tcp:// or ssh://")
    c.add_argument(
        "--docker",
        metavar="host=URL,ca=F,cert=F,key=F,skip-tls-verify=BOOL",
        help="The docker CLI's form of the endpoint",
    )
    _tls_args(c)
    c.set_defaults(handler=cmd_create)
    u = sub.add_parser("use", help="Set the current context")
    u.add_argument("name", metavar="CONTEXT")
    u.set_defaults(handler=cmd_use)
    for name in ("rm", "remove"):
        r = sub.add_parser(name, help="Remove one or more contexts" if name == "rm" else None)
        r.add_argument(
            "-f", "--force", action="store_true", help="Force the removal of a context in use"
        )
        r.add_argument("names", nargs="+", metavar="CONTEXT")
        r.set_defaults(handler=cmd_rm)
    i = sub.add_parser("inspect", help="Display detailed information on one or more contexts")
    i.add_argument("-f", "--format", help="Format the output using a Go template")
    i.add_argument("names", nargs="*", metavar="CONTEXT")
    i.set_defaults(handler=cmd_inspect)
    s = sub.add_parser("show", help="Print the name of the current context")
    s.set_defaults(handler=cmd_show)


def _tls_args(p: argparse.ArgumentParser) -> None:
    """--tlsverify and its files, as the docker CLI takes them (also on the top-level parser)."""
    p.add_argument("--tlsverify", action="store_true", help="Use TLS and verify the remote")
    p.add_argument("--tlscacert", metavar="FILE", help="Trust certs signed only by this CA")
    p.add_argument("--tlscert", metavar="FILE", help="Path to TLS certificate file")
    p.add_argument("--tlskey", metavar="FILE", help="Path to TLS key file")


COMMANDS = {"context": lazy_command("Manage contexts", _build)}


def _config_dir():  # -> Path
    from tuidock.runtime.store import paths

    return paths.config_dir()


def _store():  # -> ContextStore
    from tuidock.backends.contexts import ContextStore

    return ContextStore(_config_dir())


def _current(args: argparse.Namespace) -> str:
    from tuidock.backends.contexts import current_context_name

    return current_context_name(_config_dir(), getattr(args, "global_context", None))


def _row(ctx, current: str) -> dict:  # ctx: Context
    """One context as `context ls --format json` prints it (docker's keys, then ours)."""
    error = ctx.error or ("" if ctx.reachable is not False else f"unreachable: {ctx.reason}")
    return {
        "Name": ctx.name,
        "Description": ctx.description + (" (discovered)" if ctx.discovered else ""),
        "DockerEndpoint": ctx.endpoint.host or ctx.endpoint.display,
        "Current": ctx.name == current,
        "Error": error,
        "Source": ctx.source,
        "Reachable": ctx.reachable,
    }


def cmd_ls(args: argparse.Namespace) -> int:
    from tuidock.backends.contexts import probe

    current = _current(args)
    contexts = _store().all()
    if args.quiet:
        for ctx in contexts:
            print(ctx.name)
        return 0
    if args.format:
        from tuidock.cli.output import check_template, print_formatted

        fields = (
            "Name",
            "Description",
            "DockerEndpoint",
            "Current",
            "Error",
            "Source",
            "Reachable",
        )
        if args.format != "json":
            check_template(args.format.removeprefix("table"), fields)
        print_formatted(args.format, [_row(c, current) for c in probe(contexts)], fields=fields)
        return 0
    from tuidock.cli.output import print_table

    rows = []
    for ctx in probe(contexts):
        row = _row(ctx, current)
        name = ctx.name + (" *" if row["Current"] else "")
        rows.append((name, row["Description"], row["DockerEndpoint"], row["Error"]))
    print_table(("NAME", "DESCRIPTION", "DOCKER ENDPOINT", "ERROR"), rows)
    return 0


def _docker_option(text: str) -> dict[str, str]:
    """`--docker host=...,ca=...` as the docker CLI parses it (a CSV of key=value)."""
    from tuidock.errors import UsageError

    known = ("from", "host", "ca", "cert", "key", "skip-tls-verify")
    out: dict[str, str] = {}
    for item in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise UsageError(
                f'invalid --docker value "{item}"',
                "Use --docker host=URL[,ca=FILE,cert=FILE,key=FILE,skip-tls-verify=BOOL].",
            )
        if key == "from":
            raise UsageError("--docker from=... is not supported", "Give host=URL.")
        out[key] = value
    return out


def cmd_create(args: argparse.Namespace) -> int:
    from tuidock.backends.contexts import check_name, tls_from_files
    from tuidock.errors import UsageError

    check_name(args.name)
    host, verify = args.host, args.tlsverify
    ca, cert, key = args.tlscacert, args.tlscert, args.tlskey
    if args.docker:
        opts = _docker_option(args.docker)
        if host and opts.get("host"):
            raise UsageError("give the host once: --host or --docker host=...")
        host = host or opts.get("host")
        ca, cert, key = ca or opts.get("ca"), cert or opts.get("cert"), key or opts.get("key")
        skip = opts.get("skip-tls-verify", "false").lower() in ("1", "true", "yes")
        verify = verify or (bool(ca or cert) and not skip)
        if skip and not (ca or cert):
            # docker's skip-tls-verify alone still means TLS, unverified
            from tuidock.backends.endpoint import TLSConfig

            tls = TLSConfig(False)
        else:
            tls = tls_from_files(verify, ca, cert, key)
            if tls is not None and skip:
                from dataclasses import replace

                tls = replace(tls, verify=False)
    else:
        tls = tls_from_files(verify, ca, cert, key)
    if not host:
        raise UsageError(
            f'context "{args.name}" needs a host', "Give --host URL (or --docker host=URL)."
        )
    ctx = _store().create(args.name, host, args.description, tls)
    print(ctx.name)
    print(f'Successfully created context "{ctx.name}"', file=sys.stderr)
    return 0


def cmd_use(args: argparse.Namespace) -> int:
    import os

    from tuidock.backends.endpoint import HOST_ENV

    ctx = _store().use(args.name)
    print(ctx.name)
    if os.environ.get(HOST_ENV):
        print(
            f"Warning: {HOST_ENV} environment variable overrides the active context. "
            f"To use a context, either set the global --context flag, or unset {HOST_ENV} "
            "environment variable.",
            file=sys.stderr,
        )
    print(f'Current context is now "{ctx.name}"', file=sys.stderr)
    return 0


def cmd_rm(args: argparse.Namespace) -> int:
    from tuidock.errors import TuidockError

    store = _store()
    failed = False
    for name in args.names:
        try:
            store.remove(name, args.force)
        except TuidockError as exc:
            print(f"Error: {exc.message}", file=sys.stderr)
            failed = True
            continue
        print(name)
    return 1 if failed else 0


def _inspect(ctx) -> dict:  # ctx: Context
    """docker's `context inspect` shape; Storage names the file it came from."""
    tls = ctx.endpoint.tls
    endpoint: dict[str, object] = {
        "Host": ctx.endpoint.host or ctx.endpoint.display,
        "SkipTLSVerify": bool(tls is not None and not tls.verify),
    }
    material = {}
    if tls is not None:
        files = {"ca": tls.ca, "cert": tls.cert, "key": tls.key}
        material = {"docker": [p for p in files.values() if p]}
    in_memory = "<IN MEMORY>"
    return {
        "Name": ctx.name,
        "Metadata": {"Description": ctx.description} if ctx.description else {},
        "Endpoints": {"docker": endpoint},
        "TLSMaterial": material,
        "Storage": {"MetadataPath": ctx.path or in_memory, "TLSPath": in_memory},
        "Source": ctx.source,
    }


def cmd_inspect(args: argparse.Namespace) -> int:
    from tuidock.cli.output import print_inspect
    from tuidock.errors import TuidockError

    store = _store()
    names = args.names or [_current(args)]
    objs, errors = [], []
    for name in names:
        try:
            objs.append(_inspect(store.get(name)))
        except TuidockError as exc:
            errors.append(exc.message)
    return print_inspect(objs, errors, args.format)


def cmd_show(args: argparse.Namespace) -> int:
    print(_current(args))
    return 0
