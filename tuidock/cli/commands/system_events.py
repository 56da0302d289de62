"""`tuidock events`: the engine's events log, printed and followed as `docker events` does.

Registered in commands/system.py. Only the stdlib and runtime/store/events.py
are imported: it is a long-running reader that should start as fast as `ps`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from tuidock.errors import UsageError

FILTER_KEYS = ("container", "event", "image", "label", "network", "type", "volume")
EVENT_TYPES = ("container", "image", "network", "volume")


def add_events_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--since", help="Show all events created since timestamp")
    p.add_argument("--until", help="Stream events until this timestamp")
    p.add_argument(
        "-f",
        "--filter",
        action="append",
        default=[],
        metavar="FILTER",
        help="Filter output based on conditions provided (e.g. type=container, event=start)",
    )
    p.add_argument("--format", help="Format output: json, or a Go-style template")
    p.set_defaults(handler=cmd_events)


# -- times ----------------------------------------------------------------------------------------


def format_time_ns(time_ns: int) -> str:
    """Go's RFC3339NanoFixed in local time: 2026-11-28T20:00:00.123456789Z (or +01:00)."""
    from datetime import datetime

    dt = datetime.fromtimestamp(time_ns // 1_000_000_000).astimezone()
    offset = dt.strftime("%z")
    zone = "Z" if offset in ("+0000", "-0000", "") else f"{offset[:3]}:{offset[3:]}"
    return f"{dt.strftime('%Y-%m-%dT%H:%M:%S')}.{time_ns % 1_000_000_000:09d}{zone}"


# -- filters -----------------------------------------------------------------------------------------


def parse_filters(specs: list[str]) -> dict[str, list[str]]:
    filters: dict[str, list[str]] = {}
    for spec in specs:
        key, sep, value = spec.partition("=")
        key = key.strip().lower()
        if not sep or not key:
            raise UsageError(
                f"bad format of filter (expected name=value): {spec!r}",
                "Example: --filter type=container --filter event=start",
            )
        if key not in FILTER_KEYS:
            raise UsageError(f"invalid filter {key!r}", f"Valid filters: {', '.join(FILTER_KEYS)}.")
        if key == "type" and value not in EVENT_TYPES:
            raise UsageError(
                f"invalid event type {value!r}", f"Event types: {', '.join(EVENT_TYPES)}."
            )
        filters.setdefault(key, []).append(value)
    return filters


def _strip_tag(ref: str) -> str:
    if "@" in ref:
        return ref.split("@", 1)[0]
    name, sep, tag = ref.rpartition(":")
    return name if sep and "/" not in tag else ref


def _fuzzy(values: list[str] | None, *candidates: str) -> bool:
    """Docker's FuzzyMatch: an absent filter matches; else a value equal to or a prefix of one."""
    if not values:
        return True
    return any(c and (c == v or c.startswith(v)) for v in values for c in candidates)


def _labels_match(values: list[str] | None, attrs: dict) -> bool:
    # As Docker (MatchKVList): every label filter must hold, not just one.
    for v in values or []:
        key, sep, want = v.partition("=")
        if key not in attrs or (sep and attrs[key] != want):
            return False
    return True


def matches(event: dict, filters: dict[str, list[str]]) -> bool:
    """Docker's events filter: the same key ORs its values, different keys AND."""
    type_ = event.get("Type", "")
    action = event.get("Action", "")
    actor = event.get("Actor") or {}
    actor_id = actor.get("ID", "")
    attrs = actor.get("Attributes") or {}
    name = attrs.get("name", "")
    if "type" in filters and type_ not in filters["type"]:
        return False
    # exec_start: <command> is matched by its action name (event=exec_start).
    if "event" in filters and not {action, action.split(":", 1)[0]} & set(filters["event"]):
        return False
    for key in ("container", "network", "volume"):
        if key in filters and not _fuzzy(filters[key], actor_id, name):
            return False
    if "image" in filters:
        image_name = name if type_ == "image" else attrs.get("image", "")
        candidates = {actor_id, image_name, _strip_tag(actor_id), _strip_tag(image_name)}
        if not candidates & set(filters["image"]):
            return False
    return _labels_match(filters.get("label"), attrs)


# -- output ----------------------------------------------------------------------------------------


def format_line(event: dict) -> str:
    """Docker's default line: time, type, action, actor ID, then sorted attributes."""
    actor = event.get("Actor") or {}
    line = (
        f"{format_time_ns(event['timeNano'])} {event.get('Type', '')} "
        f"{event.get('Action', '')} {actor.get('ID', '')}"
    )
    attrs = actor.get("Attributes") or {}
    if attrs:
        line += " (" + ", ".join(f"{k}={attrs[k]}" for k in sorted(attrs)) + ")"
    return line


class _Attributes(dict):
    """Attributes as a Go template sees a map: a missing key is "<no value>", not an error."""

    def __contains__(self, key: object) -> bool:
        return True

    def __missing__(self, key: str) -> str:
        return "<no value>"


def template_fields(event: dict) -> dict:
    """The event under Go's field names too ({{.ID}}, {{.Status}}, {{.TimeNano}}...)."""
    actor = event.get("Actor") or {}
    return {
        **event,
        "Actor": {**actor, "Attributes": _Attributes(actor.get("Attributes") or {})},
        "Status": event.get("status", ""),
        "ID": event.get("id", ""),
        "From": event.get("from", ""),
        "Scope": event.get("scope", ""),
        "Time": event.get("time", 0),
        "TimeNano": event.get("timeNano", 0),
    }


def renderer(fmt: str | None):
    if not fmt:
        return format_line
    if fmt.strip() in ("json", "{{json .}}"):
        return lambda e: json.dumps(e, separators=(",", ":"))
    if fmt.startswith("table"):
        raise UsageError("events --format does not take a table", "Use json or a template.")
    from tuidock.cli.output import render_template
    from tuidock.runtime.store.events import make_event

    # A bad template fails here, before the stream, not at its first event.
    render_template(fmt, template_fields(make_event("container", "start", "0")))
    return lambda e: render_template(fmt, template_fields(e))


def cmd_events(args: argparse.Namespace) -> int:
    from tuidock.core.timestamps import parse_timestamp_ns
    from tuidock.runtime.store import events, paths

    now = time.time_ns()
    since = parse_timestamp_ns(args.since, now) if args.since else None
    until = parse_timestamp_ns(args.until, now) if args.until else None
    filters = parse_filters(args.filter)
    render = renderer(args.format)
    follow = until is None or until > now
    out = sys.stdout
    try:
        for event in events.stream(paths.data_root(), since, until, follow):
            if matches(event, filters):
                out.write(render(event) + "\n")
                out.flush()
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a stream is meant to end
    return 0
