"""The --filter of the prune commands (system, container, image, volume), as Docker reads it.

`until=<time>` keeps what was created after the time (RFC 3339, Unix
seconds or a duration before now); `label=key`, `label=key=value` prune only
what carries the label, `label!=...` only what does not. Every filter must
hold for a thing to be pruned.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tuidock.errors import UsageError


@dataclass
class PruneFilter:
    until_ns: int | None = None
    labels: list[tuple[str, str | None]] = field(default_factory=list)  # must carry
    not_labels: list[tuple[str, str | None]] = field(default_factory=list)  # must not

    def allows(self, created: str | float | None, labels: dict | None) -> bool:
        """True if a thing created at `created` (RFC 3339 or Unix time) with `labels`
        may be pruned."""
        if self.until_ns is not None:
            ts = _timestamp(created)
            if ts is None or ts * 1e9 >= self.until_ns:
                return False  # created after the bound (or unknown): kept
        labels = labels or {}
        if not all(_has(labels, kv) for kv in self.labels):
            return False
        return not any(_has(labels, kv) for kv in self.not_labels)


def _has(labels: dict, kv: tuple[str, str | None]) -> bool:
    key, value = kv
    return key in labels and (value is None or labels[key] == value)


def _timestamp(created: str | float | None) -> float | None:
    if isinstance(created, (int, float)):
        return float(created)
    from tuidock.core.humanize import parse_time

    return parse_time(created or "")


def parse_prune_filters(
    specs: list[str], allowed: tuple[str, ...] = ("until", "label")
) -> PruneFilter:
    """`--filter` values; `allowed` names the keys the command takes (label covers label!=)."""
    from tuidock.core.timestamps import parse_timestamp_ns

    result = PruneFilter()
    for spec in specs:
        key, sep, value = spec.partition("=")
        key = key.strip().lower()
        base = key.removesuffix("!")
        if not sep or base not in allowed or (key.endswith("!") and base != "label"):
            raise UsageError(
                f"invalid filter {spec!r}",
                f"{' and '.join(f'{k}=' for k in allowed)} are the filters here.",
            )
        if base == "until":
            result.until_ns = parse_timestamp_ns(value)
            continue
        name, has_value, want = value.partition("=")
        if not name:
            raise UsageError(f"invalid filter {spec!r}: no label name", "E.g. label=env=test.")
        entry = (name, want if has_value else None)
        (result.not_labels if key.endswith("!") else result.labels).append(entry)
    return result
