"""Sizes and durations print as the docker CLI prints them (go-units)."""

import pytest

from tuidock.core.humanize import human_duration, human_size, parse_time, since


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0B"), (999, "999B"), (1234, "1.23kB"), (4_261_000, "4.26MB"), (1_500_000_000, "1.5GB")],
)
def test_human_size(size: int, text: str) -> None:
    assert human_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.5, "Less than a second"),
        (1, "1 second"),
        (30, "30 seconds"),
        (90, "About a minute"),
        (50 * 60, "50 minutes"),
        (80 * 60, "About an hour"),
        (5 * 3600, "5 hours"),
        (3 * 86400, "3 days"),
        (20 * 86400, "2 weeks"),
        (100 * 86400, "3 months"),
        (800 * 86400, "2 years"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


def test_rfc3339_with_nanoseconds() -> None:
    assert parse_time("1970-01-01T00:00:01.123456789Z") == pytest.approx(1.123456)
    assert parse_time("not a time") is None
    assert since("", 0) == "N/A"
    assert since("1970-01-01T00:00:00Z", now=3 * 86400) == "3 days ago"
