"""ContainerStatus: docker's seven container states and what each allows.

The values are docker's strings (State.Status in `inspect`, `ps --filter
status=`), and the status is a StrEnum, so state.json, JSON output and
comparisons with strings read from disk stay the same. The predicates follow
runc's and youki's (can_start, can_kill, can_delete) and docker's daemon,
which answers an operation that does not apply with a conflict; where
tuidock answers with a no-op today (`start` of a running container, `stop`
of a stopped one, as docker does) the caller checks the predicate and
returns. The rules themselves live in core/statusrules.py as plain strings,
for exec's hot path.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum

from tuidock.core import statusrules as _rules

ACTIVE = _rules.ACTIVE


def _allowed_in(statuses: frozenset[str], doc: str) -> property:
    """A predicate: is the status one of `statuses`."""
    return property(lambda status: status in statuses, doc=doc)


class ContainerStatus(StrEnum):
    CREATED = _rules.CREATED
    RUNNING = _rules.RUNNING
    PAUSED = _rules.PAUSED
    RESTARTING = _rules.RESTARTING
    REMOVING = _rules.REMOVING
    EXITED = _rules.EXITED
    DEAD = _rules.DEAD

    @classmethod
    def of(cls, state: Mapping[str, object]) -> ContainerStatus:
        """The status a state.json records; one that is none of the seven reads as dead
        (it can be removed, nothing else), as docker marks a container it cannot use."""
        try:
            return cls(state.get("Status") or cls.CREATED)
        except ValueError:
            return cls.DEAD

    is_active = _allowed_in(
        _rules.ACTIVE, "A monitor runs the container: running, paused or restarting."
    )
    is_up = _allowed_in(
        _rules.UP, 'PID 1 exists (running or paused): docker\'s "Up …"; `top` and `stats` apply.'
    )
    can_start = _allowed_in(_rules.STARTABLE, "Created or exited; docker refuses the others.")
    can_stop = _allowed_in(
        _rules.ACTIVE, "Something to stop; `stop` of any other container is a no-op, as docker's."
    )
    can_kill = _allowed_in(
        _rules.UP, 'Running or paused (SIGKILL thaws it); else "Container X is not running".'
    )
    can_exec = _allowed_in(_rules.EXECUTABLE, "Running: not paused, not restarting.")
    can_pause = _allowed_in(_rules.PAUSABLE, "Running.")
    can_unpause = _allowed_in(_rules.UNPAUSABLE, "Paused.")
    can_remove = _allowed_in(
        _rules.REMOVABLE, "`rm` without -f: not while a monitor runs it, nor while one rm runs."
    )
