"""--since/--until/--filter until= values, read as Docker reads them.

RFC 3339 (a date, a local time, or with a zone), Unix seconds with up to
nine decimals, or a Go duration ("10m", "1h30m") before now.
"""

from __future__ import annotations

import re
import time
from datetime import datetime

from tuidock.errors import UsageError

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_UNIX = re.compile(r"(\d+)(?:\.(\d{1,9}))?")
_FRACTION = re.compile(r"\.(\d+)")


def parse_duration_ns(text: str) -> int | None:
    """A Go duration ("10m", "1h30m", "1.5s") in nanoseconds; None if it is not one."""
    pos, total = 0, 0.0
    for m in _DURATION_PART.finditer(text):
        if m.start() != pos:
            return None
        total += float(m.group(1)) * _UNIT_NS[m.group(2)]
        pos = m.end()
    if pos != len(text) or not text:
        return None
    return int(total)


def parse_timestamp_ns(text: str, now_ns: int | None = None) -> int:
    """Docker's --since/--until value: RFC 3339 (a date, a local time, or with a zone),
    Unix seconds with up to nine decimals, or a duration before now."""
    now_ns = time.time_ns() if now_ns is None else now_ns
    value = text.strip()
    duration = parse_duration_ns(value.removeprefix("-"))
    if duration is not None:
        return now_ns - duration
    m = _UNIX.fullmatch(value)
    if m:
        return int(m.group(1)) * 1_000_000_000 + int((m.group(2) or "").ljust(9, "0") or 0)
    # fromisoformat takes at most microseconds: the fraction is read separately.
    nanos = 0
    frac = _FRACTION.search(value)
    if frac and "T" in value[: frac.start()]:
        nanos = int(frac.group(1)[:9].ljust(9, "0"))
        value = value[: frac.start()] + value[frac.end() :]
    try:
        dt = datetime.fromisoformat(value.replace("z", "Z"))
    except ValueError:
        raise UsageError(
            f"failed to parse value as time or duration: {text!r}",
            "Use RFC 3339 (2026-11-28T20:00:00Z), Unix seconds, or a duration such as 10m.",
        ) from None
    # A time without a zone is local time, as Docker reads it.
    return int(dt.timestamp()) * 1_000_000_000 + nanos
