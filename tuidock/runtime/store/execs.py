"""Reading a container's files for `exec`, without the store's imports.

`exec` reads three small JSON files (config.json to match a name,
state.json, spec.json) on its hot path. runtime/containerstore.py does
the same through pathlib and json, whose imports (json pulls in `re`)
cost an installed tuidock ~20 ms per call, more than the rest of exec's
own work. This reads the same files, the same way, with CPython's C JSON
scanner and plain paths.

Only reads: a container whose monitor died is not reconciled here (the
next `ps` or `inspect` does it); exec refuses it anyway, because its
PID 1 is gone and the start-time check in execplan says so.
"""

from __future__ import annotations

import os

from tuidock.errors import AmbiguousPrefix, NotFound
from tuidock.runtime.store import ctrlayout

_HEX = frozenset("0123456789abcdef")


def _scanner():  # -> Callable[[str, int], tuple[object, int]] | None
    try:
        import _json
    except ImportError:
        return None

    class _Context:
        # What json.JSONDecoder hands the C scanner: plain JSON, strict strings.
        strict = True
        object_hook = None
        object_pairs_hook = None
        parse_float = float
        parse_int = int
        parse_constant = {
            "NaN": float("nan"),
            "Infinity": float("inf"),
            "-Infinity": float("-inf"),
        }.__getitem__

    return _json.make_scanner(_Context())


_scan = _scanner()


def loads(text: str) -> object:
    """json.loads for our own files (no `re`, no json package when CPython has _json)."""
    if _scan is not None:
        text = text.strip(" \t\n\r")
        try:
            value, end = _scan(text, 0)
        except StopIteration:
            end = -1
        if end == len(text):
            return value
    import json  # not CPython, or malformed: the real thing, with its error message

    return json.loads(text)


def read_json(path: str) -> dict:
    with open(path, encoding="utf-8") as f:
        value = loads(f.read())
    if not isinstance(value, dict):
        raise ValueError(f"{path}: not a JSON object")
    return value


def data_root() -> str:
    """runtime/paths.py's data_root(), as a string, without pathlib when it can."""
    env = os.environ.get("TUIDOCK_ROOT")
    if env:
        return env
    if os.geteuid() == 0:
        return "/var/lib/tuidock"
    from tuidock.runtime.store import paths

    return str(paths.data_root())


def resolve(root: str, ref: str) -> str:
    """ContainerStore.resolve: a full ID, a name (with or without "/") or a
    unique ID prefix -> the ID; the same order and errors as Docker."""
    if not ref:
        raise NotFound("No such container: (empty name)")
    cdir = ctrlayout.containers_dir(root)
    if len(ref) == 64 and os.path.isfile(f"{cdir}/{ref}/{ctrlayout.CONFIG}"):
        return ref
    try:
        ids = [e.name for e in os.scandir(cdir) if len(e.name) == 64 and e.is_dir()]
    except FileNotFoundError:
        ids = []
    name = ref.removeprefix("/")
    for cid in ids:
        try:
            config = read_json(f"{cdir}/{cid}/{ctrlayout.CONFIG}")
            if config["Name"].lstrip("/") == name:
                return cid
        except (OSError, ValueError, KeyError, AttributeError):
            continue
    if set(ref) <= _HEX:
        matches = [cid for cid in ids if cid.startswith(ref)]
        if len(matches) > 1:
            raise AmbiguousPrefix(
                f"multiple IDs found with provided prefix: {ref}",
                "Give more characters of the ID, or the container's name.",
            )
        if matches:
            return matches[0]
    raise NotFound(f"No such container: {ref}")
