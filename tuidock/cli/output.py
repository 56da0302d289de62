"""Tables and --format templates for the docker-style CLI.

`--format` understands what scripts written for Docker use most: `json`,
`table` with `{{.Field}}` columns, plain `{{.Field}}` templates, `{{json .}}`
and `{{json .Field}}`. Anything else is a clear error rather than a guess,
and so are an unclosed action and a field the objects lack (Go's text/template
wording, with the valid fields listed): both are checked before the first line
is printed, even when there is nothing to list.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence

from tuidock.errors import UsageError

MIN_COLUMN = 10  # the docker CLI's tabwriter minwidth, padding included
_FIELD = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]], out=None) -> None:
    """Columns padded to their widest cell, three spaces apart and at least 10
    wide, as the docker CLI's tabwriter (minwidth 10, padding 3) does."""
    out = out or sys.stdout
    rows = [list(map(str, r)) for r in rows]
    widths = [max(len(h), MIN_COLUMN - 3) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    for row in [list(headers), *rows]:
        line = "   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
        line = (line + "   " if len(row) > 1 else "") + row[-1]
        out.write(line.rstrip() + "\n")


def _where(template: str, offset: int) -> str:
    """Go's `line:column` of an offset (the column counted from 0, as text/template)."""
    line = template.count("\n", 0, offset) + 1
    return f"{line}:{offset - (template.rfind(chr(10), 0, offset) + 1)}"


def check_template(template: str, fields: Iterable[str] | None = None) -> None:
    """Refuse a template Go's text/template would refuse: an unclosed or unsupported
    action, or (given the object's `fields`) a field the object does not have."""
    template = template.replace("\\t", "\t").replace("\\n", "\n")
    pos = 0
    known = sorted(fields) if fields is not None else None
    while (start := template.find("{{", pos)) >= 0:
        end = template.find("}}", start + 2)
        if end < 0:
            line = template.count("\n", 0, start) + 1
            raise UsageError(f"template: :{line}: unclosed action")
        m = _FIELD.fullmatch(template, start, end + 2)
        if not m:
            raise UsageError(
                f"unsupported format directive {template[start : end + 2]!r}",
                "Supported: json, table, {{.Field}}, {{json .}}, {{json .Field}}.",
            )
        name = m.group(2).split(".")[0]
        if known is not None and name and name not in known:
            raise _no_field(template, m.start(2) - 1, m.group(2), name, known)
        pos = end + 2


def _no_field(template: str, offset: int, path: str, name: str, known: list[str]) -> UsageError:
    return UsageError(
        f'template: :{_where(template, offset)}: executing "" at <.{path}>: '
        f"can't evaluate field {name}",
        "Valid fields: " + ", ".join(known) + "." if known else None,
    )


def _lookup(template: str, m: re.Match, obj: object) -> object:
    path = m.group(2)
    if path == "":
        return obj
    for part in path.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            known = sorted(obj) if isinstance(obj, dict) else []
            raise _no_field(template, m.start(2) - 1, path, part, known)
    return obj


def render_template(template: str, obj: dict) -> str:
    check_template(template)
    template = template.replace("\\t", "\t").replace("\\n", "\n")

    def sub(m: re.Match) -> str:
        value = _lookup(template, m, obj)
        if m.group(1):
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return "" if value is None else str(value)

    return _FIELD.sub(sub, template)


def _header(column: str, names: dict[str, str]) -> str:
    """A table column's header: the column's template with each field replaced
    by its name, literal text kept, as docker renders headers
    (`{{.Repository}}:{{.Tag}}` -> `REPOSITORY:TAG`)."""

    def name(m: re.Match) -> str:
        field = m.group(2)
        return names.get(field) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", field).upper()

    return _FIELD.sub(name, column).strip()


def print_formatted(
    fmt: str,
    objs: list[dict],
    out=None,
    headers: dict[str, str] | None = None,
    fields: Iterable[str] | None = None,
) -> None:
    """Render objects by a docker-style --format; `headers` names table columns by field.

    The template is checked before anything is printed, against the fields of
    the first object, or `fields` when there is none (so a typo fails on an empty
    list too)."""
    out = out or sys.stdout
    if fmt != "json":
        body = fmt.removeprefix("table").removeprefix(" ") if fmt.startswith("table") else fmt
        check_template(body, objs[0].keys() if objs else fields)
    if fmt == "json":
        for obj in objs:
            out.write(json.dumps(obj, separators=(",", ":")) + "\n")
        return
    if fmt.startswith("table"):
        body = fmt[len("table") :].strip()
        if not body:
            raise UsageError("--format table needs columns, e.g. 'table {{.ID}}\\t{{.Size}}'")
        cols = [c for c in body.replace("\\t", "\t").split("\t") if c.strip()]
        names = headers or {}
        print_table(
            [_header(c, names) for c in cols],
            [[render_template(c, o) for c in cols] for o in objs],
            out,
        )
        return
    for obj in objs:
        out.write(render_template(fmt, obj) + "\n")


def print_inspect(objs: list[dict], errors: list[str], fmt: str | None) -> int:
    """`inspect`'s output: the objects found (JSON array or --format), then one
    error line per name not found; exit status 1 if any was not found."""
    if fmt:
        print_formatted(fmt, objs)
    else:
        print(json.dumps(objs, indent=4))
    for err in errors:
        print(f"Error: {err}", file=sys.stderr)
    return 1 if errors else 0
