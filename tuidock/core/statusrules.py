"""What each container status allows, as plain strings: the rules behind ContainerStatus.

core/status.py's ContainerStatus is the type the code uses and its
predicates read these sets. They hold strings, not enum members, so that
exec's hot path can judge a status read from state.json without importing
`enum` (about 3 ms of a `tuidock exec`); a StrEnum member hashes and
compares as its value, so `ContainerStatus.RUNNING in ACTIVE` holds too.
"""

from __future__ import annotations

CREATED = "created"
RUNNING = "running"
PAUSED = "paused"
RESTARTING = "restarting"
REMOVING = "removing"
EXITED = "exited"
DEAD = "dead"

# A live monitor is behind the container: `ps` lists it without -a, `stop`
# has something to stop, `rm` refuses it without -f.
ACTIVE = frozenset({RUNNING, PAUSED, RESTARTING})
# PID 1 exists: docker's "Up …", `top`, `stats` and `kill` work.
UP = frozenset({RUNNING, PAUSED})
# docker refuses to start a dead or a removing container, and a paused one
# ("cannot start a paused container, try unpause instead").
STARTABLE = frozenset({CREATED, EXITED})
# exec: "Container X is paused, unpause the container before exec",
# "Container X is restarting, wait until the container is running".
EXECUTABLE = frozenset({RUNNING})
PAUSABLE = frozenset({RUNNING})
UNPAUSABLE = frozenset({PAUSED})
# `rm` without -f: not while a monitor runs it, nor twice at once.
REMOVABLE = frozenset({CREATED, EXITED, DEAD})
