"""Key bindings of the UI: the defaults, and the user's overrides from keys.toml.

Every binding has an ID ("images.delete"); widgets build their BINDINGS from
this table with `bind()`, so the defaults live in one place, the help screen
lists them all, and Textual's keymap (App.set_keymap) applies the user's
overrides by ID without any widget knowing about the config file.

keys.toml, in the config dir ($TUIDOCK_CONFIG, else ~/.config/tuidock):

    [keys]
    "app.quit" = "q,ctrl+q"
    "containers.exec" = "e,X"

A remap onto a key another binding answers to in the same place (`"x"` is
the lists' menu key) leaves one of the two dead; Textual says nothing of it,
so `lost_keys` names each such pair among the app's problems (warnings).

This module imports no Textual at import time except inside `bind`, so the
CLI can read it cheaply.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from tuidock.core.userfiles import DOCUMENT_MAX, UserFileError, read_user_text

if TYPE_CHECKING:
    from textual.binding import Binding


@dataclass(frozen=True)
class KeySpec:
    keys: str  # Textual key names, comma separated
    description: str
    where: str  # the help screen's section


# ID -> default keys. Keys are Textual's names ("question_mark" is "?").
DEFAULT_KEYS: dict[str, KeySpec] = {
    # anywhere on the main screen
    "app.images": KeySpec("1", "Images pane", "Global"),
    "app.containers": KeySpec("2", "Containers pane", "Global"),
    "app.logs": KeySpec("3,l", "Logs pane", "Global"),
    "app.volumes": KeySpec("4", "Volumes pane", "Global"),
    "app.networks": KeySpec("5", "Networks pane", "Global"),
    "app.disk": KeySpec("6", "Disk use (system df) and prune", "Global"),
    "app.pull": KeySpec("p", "Pull an image", "Global"),
    "app.run": KeySpec("r", "Run a container", "Global"),
    "app.help": KeySpec("question_mark,f1", "Help", "Global"),
    "app.quit": KeySpec("q", "Quit (containers keep running)", "Global"),
    "app.mouse": KeySpec("M", "Mouse on/off (off: select text)", "Global"),
    "app.theme": KeySpec("T", "Next theme", "Global"),
    "app.refresh": KeySpec("ctrl+r", "Reload lists", "Global"),
    "app.contexts": KeySpec("c", "Switch engine (contexts)", "Global"),
    "app.zoom": KeySpec("z", "Zoom the focused pane to the full screen / back", "Global"),
    "app.events": KeySpec("ctrl+e", "Events (live, filtered by type, container, image)", "Global"),
    # any list (images, containers)
    "list.filter": KeySpec("slash", "Filter (Enter apply, Esc clear; !text inverts)", "Lists"),
    "list.mark": KeySpec("space", "Mark / unmark row", "Lists"),
    "list.unmark": KeySpec("u", "Clear marks", "Lists"),
    "list.down": KeySpec("j", "Down", "Lists"),
    "list.up": KeySpec("k", "Up", "Lists"),
    "list.delete": KeySpec("d,delete", "Delete marked (or current) after confirm", "Lists"),
    "list.inspect": KeySpec("i", "Inspect (JSON tree)", "Lists"),
    "list.menu": KeySpec("x", "Menu (every action; also Enter)", "Lists"),
    "list.mark_range": KeySpec("V", "Mark from the last marked row to here", "Lists"),
    "list.copy": KeySpec("y", "Copy the ID to the clipboard", "Lists"),
    "list.sort": KeySpec("o", "Sort by the next column", "Lists"),
    "list.sort_reverse": KeySpec("O", "Reverse the sort order", "Lists"),
    # images pane
    "images.build": KeySpec("b", "Build an image from a Dockerfile", "Images"),
    # containers pane
    "containers.startstop": KeySpec("s", "Start / stop", "Containers"),
    "containers.restart": KeySpec("R", "Restart", "Containers"),
    "containers.exec": KeySpec(
        "e", "Shell in the shell pane (returns to an open one)", "Containers"
    ),
    "containers.exec_full": KeySpec("E", "Shell full screen (suspends the UI)", "Containers"),
    "containers.attach": KeySpec(
        "a", "Attach to the main process in the shell pane (ctrl-p ctrl-q detaches)", "Containers"
    ),
    # volumes, networks and disk use panes
    "resources.create": KeySpec("n", "Create a volume / network", "Volumes, networks, disk"),
    "resources.prune": KeySpec(
        "P", "Prune unused (the confirm says what goes)", "Volumes, networks, disk"
    ),
    "networks.connect": KeySpec(
        "C", "Connect a container to the network", "Volumes, networks, disk"
    ),
    "networks.disconnect": KeySpec(
        "D", "Disconnect a container from the network", "Volumes, networks, disk"
    ),
    "containers.details": KeySpec("I", "Details (config and live graphs)", "Containers"),
    "containers.signal": KeySpec("K", "Kill with a chosen signal", "Containers"),
    "containers.diff": KeySpec("D", "Diff (filesystem changes)", "Containers"),
    "containers.copy": KeySpec("F", "Copy files from / to the container (docker cp)", "Containers"),
    # logs pane
    "logs.search": KeySpec("slash", "Search (highlight, others stay visible)", "Logs"),
    "logs.next": KeySpec("n", "Next match", "Logs"),
    "logs.prev": KeySpec("N", "Previous match", "Logs"),
    "logs.timestamps": KeySpec("t", "Timestamps on/off", "Logs"),
    "logs.wrap": KeySpec("w", "Wrap on/off", "Logs"),
    "logs.follow": KeySpec("f", "Follow on/off", "Logs"),
    "logs.save": KeySpec("ctrl+s", "Save to a file", "Logs"),
    "logs.all": KeySpec("A", "All containers in one stream / the selected one", "Logs"),
    "logs.filter": KeySpec("ampersand", "Filter: only the lines matching the search / all", "Logs"),
    "logs.tail": KeySpec("L", "Lines from the end: last 100 / 1000 / all", "Logs"),
    "logs.since": KeySpec("S", "Since: 5 minutes / 1 hour / all", "Logs"),
    "logs.top": KeySpec("g,home", "Top", "Logs"),
    "logs.bottom": KeySpec("G,end", "Bottom (follows)", "Logs"),
    # shell pane (a priority key: the terminal gets every other key)
    "shell.leave": KeySpec(
        "ctrl+right_square_bracket", "Leave the shell (it keeps running)", "Shell"
    ),
    # dialogs
    "confirm.yes": KeySpec("y,enter", "Confirm", "Dialogs"),
    "confirm.no": KeySpec("n,escape", "Cancel", "Dialogs"),
}

KEYS_FILE = "keys.toml"


def bind(
    binding_id: str,
    action: str,
    *,
    show: bool = True,
    priority: bool = False,
    description: str | None = None,
) -> Binding:
    """A Textual Binding with its default keys from DEFAULT_KEYS."""
    from textual.binding import Binding

    spec = DEFAULT_KEYS[binding_id]
    return Binding(
        spec.keys,
        action,
        description if description is not None else spec.description.split(" (")[0],
        show=show,
        priority=priority,
        id=binding_id,
    )


def load_keymap(config_dir: Path) -> tuple[dict[str, str], list[str]]:
    """(overrides by ID, problems) from keys.toml; a broken file never stops the app."""
    path = config_dir / KEYS_FILE
    try:
        data = tomllib.loads(read_user_text(str(path), "config file", DOCUMENT_MAX))
    except FileNotFoundError:
        return {}, []
    except (OSError, UserFileError, tomllib.TOMLDecodeError) as exc:
        return {}, [f"{path}: {exc}"]
    table = data.get("keys", data)
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for binding_id, keys in table.items():
        if binding_id not in DEFAULT_KEYS:
            problems.append(f"{path}: unknown binding {binding_id!r}")
            continue
        if isinstance(keys, list):
            keys = ",".join(str(k) for k in keys)
        if not isinstance(keys, str) or not keys.strip():
            problems.append(f'{path}: {binding_id} needs a key string, e.g. "x" or "x,ctrl+x"')
            continue
        keymap[binding_id] = keys.replace(" ", "")
    return keymap, problems


def effective_keys(keymap: dict[str, str]) -> dict[str, str]:
    """Keys in force for every binding ID: the user's where given, else the default."""
    return {bid: keymap.get(bid, spec.keys) for bid, spec in DEFAULT_KEYS.items()}


def lost_keys(keymap: dict[str, str], groups: Iterable[Iterable[str]]) -> list[str]:
    """Problems for the remaps whose key another binding of a group also has.

    A group is the binding IDs one focused widget answers to with its screen's
    (the containers table: its own, the lists', the global ones). Within a widget
    Textual drops the other binding; across widget and screen the widget's
    shadows the screen's: either way one of the two keys does nothing.
    """
    keys = effective_keys(keymap)
    problems: list[str] = []
    seen: set[tuple[str, str, str]] = set()
    for group in groups:
        ids = [bid for bid in dict.fromkeys(group) if bid in keys]
        for remapped in ids:
            if remapped not in keymap:
                continue
            for key in keymap[remapped].split(","):
                for other in ids:
                    pair = (key, *sorted((remapped, other)))
                    if other == remapped or key not in keys[other].split(",") or pair in seen:
                        continue
                    seen.add(pair)
                    problems.append(
                        f"{KEYS_FILE}: {pretty_keys(key)} is both {remapped} and {other}; "
                        "one of them does nothing: give the other a key of its own"
                    )
    return problems


_PRETTY = {
    "question_mark": "?",
    "slash": "/",
    "space": "space",
    "right_square_bracket": "]",
    "delete": "Del",
}


def pretty_keys(keys: str) -> str:
    """ "question_mark,f1" -> "? / f1" for the help screen."""
    out = []
    for key in keys.split(","):
        parts = [_PRETTY.get(p, p) for p in key.split("+")]
        out.append("+".join(parts))
    return " / ".join(out)
