"""Flag values as Docker's Go flag library reads them, with pflag's messages.

Kept apart from runtime.container.options (dataclasses, regexes) so that
the parsers of `stop`, `restart` and the other light commands can check an
integer flag without loading what only `create` and `run` need.
"""

from __future__ import annotations

from collections.abc import Callable

from tuidock.errors import UsageError

INT64_MAX = (1 << 63) - 1


def bad_flag(text: str, flag: str, reason: str) -> UsageError:
    """Docker's (pflag's) message for a value its flag cannot take."""
    return UsageError(f'invalid argument "{text}" for "{flag}" flag: {reason}')


def int_flag(flag: str) -> Callable[[str], int]:
    """An argparse type for an integer flag: a 64-bit integer, as Docker's Go flags take."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise bad_flag(
                text, flag, f'strconv.ParseInt: parsing "{text}": invalid syntax'
            ) from None
        if not -INT64_MAX - 1 <= value <= INT64_MAX:
            raise bad_flag(text, flag, f'strconv.ParseInt: parsing "{text}": value out of range')
        return value

    return parse


def signal_number(name: str | int) -> int:
    """SIGTERM, TERM, term or 15 -> 15, as `kill -s` and StopSignal take them."""
    import signal

    text = str(name).strip().upper()
    if text.isdigit():
        num = int(text)
        if 0 < num < signal.NSIG:
            return num
    else:
        text = text if text.startswith("SIG") else "SIG" + text
        sig = getattr(signal.Signals, text, None) if text in signal.Signals.__members__ else None
        if sig is not None:
            return int(sig)
    raise UsageError(f"invalid signal: {name}")
