"""Tables and --format templates for the docker-style CLI.

`--format` understands what scripts written for Docker use most: `json`,
`table` with `{{.Field}}` columns, plain `{{.Field}}` templates, `{{json .}}`
and `{{json .Field}}`. Anything else is a clear error rather than a guess.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Sequence

from tuidock.errors import UsageError

_FIELD = re.compile(r"\{\{\s*(json\s+)?\.([A-Za-z0-9_.]*)\s*\}\}")
_ANY = re.compile(r"\{\{.*?\}\}")


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]], out=None) -> None:
    """Columns padded to their widest cell, three spaces apart, as the docker CLI does."""
    out = out or sys.stdout
    rows = [list(map(str, r)) for r in rows]
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    for row in [list(headers), *rows]:
        line = "   ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:-1]))
        line = (line + "   " if len(row) > 1 else "") + row[-1]
        out.write(line.rstrip() + "\n")


def _lookup(obj: object, path: str) -> object:
    if path == "":
        return obj
    for part in path.split("."):
        if isinstance(obj, dict) and part in obj:
            obj = obj[part]
        else:
            raise UsageError(f"template: can't evaluate field {part}")
    return obj


def render_template(template: str, obj: dict) -> str:
    template = template.replace("\\t", "\t").replace("\\n", "\n")

    def sub(m: re.Match) -> str:
        value = _lookup(obj, m.group(2))
        if m.group(1):
            return json.dumps(value, separators=(",", ":"))
        if isinstance(value, (dict, list)):
            return json.dumps(value, separators=(",", ":"))
        return "" if value is None else str(value)

    text = _FIELD.sub(sub, template)
    leftover = _ANY.search(text)
    if leftover:
        raise UsageError(
            f"unsupported format directive {leftover.group(0)!r}",
            "Supported: json, table, {{.Field}}, {{json .}}, {{json .Field}}.",
        )
    return text


def _header(column: str, names: dict[str, str]) -> str:
    fields = [m[1] for m in _FIELD.findall(column)]
    if not fields:
        return column.strip()
    return " ".join(
        names.get(f) or re.sub(r"(?<=[a-z])(?=[A-Z])", " ", f).upper() for f in fields
    )


def print_formatted(
    fmt: str, objs: list[dict], out=None, headers: dict[str, str] | None = None
) -> None:
    """Render objects by a docker-style --format; `headers` names table columns by field."""
    out = out or sys.stdout
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
