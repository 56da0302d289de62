"""Durations, sizes and times printed the way the docker CLI prints them."""

from __future__ import annotations

import time
from datetime import UTC, datetime


def human_duration(seconds: float) -> str:
    """go-units HumanDuration: "3 minutes", "About an hour", "2 weeks"."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(seconds / 3600) // 24 // 365} years"


def human_size(size: float, precision: int = 3) -> str:
    """go-units HumanSizeWithPrecision: decimal units, 3 significant digits ("4.26MB")
    by default (what most tables print); go-units' HumanSize is precision 4."""
    units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"]
    i = 0
    while size >= 1000 and i < len(units) - 1:
        size /= 1000
        i += 1
    return f"{size:.{precision}g}{units[i]}"


def human_binary_size(size: float) -> str:
    """go-units BytesSize: binary units ("1.5MiB"), as docker stats prints memory."""
    units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"]
    i = 0
    while size >= 1024 and i < len(units) - 1:
        size /= 1024
        i += 1
    return f"{size:.4g}{units[i]}"


def parse_time(text: str) -> float | None:
    """An RFC 3339 time (nanoseconds allowed) as a Unix timestamp."""
    if not text:
        return None
    t = text.strip().replace("Z", "+00:00")
    # Python's fromisoformat takes at most microseconds.
    if "." in t:
        head, _, rest = t.partition(".")
        digits = ""
        while rest and rest[0].isdigit():
            digits, rest = digits + rest[0], rest[1:]
        t = f"{head}.{digits[:6].ljust(6, '0')}{rest}"
    try:
        dt = datetime.fromisoformat(t)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def since(text: str, now: float | None = None) -> str:
    ts = parse_time(text)
    if ts is None:
        return "N/A"
    return human_duration((now or time.time()) - ts) + " ago"


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")
