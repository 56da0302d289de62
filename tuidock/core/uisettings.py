"""ui.toml in the config dir: the one reader and validator; everything has a default.

theme = "textual-dark"
mouse = true                # false: the terminal's own text selection works
shell = "embedded"          # or "fullscreen": exec suspends the UI instead
stats_interval = 2.0        # seconds between stats samples (0.5 .. 60)
stop_timeout = 10           # seconds before SIGKILL when stopping
exec_shell = "bash"         # the shell pane's first choice (name or path in the container)

It lives in core, below both of its users: the UI (tuidock.uiconfig) and
the shell detection of runtime.container.exec.shell. The read is bounded
(core.userfiles); an unreadable or invalid file gives the defaults plus a
line in `problems`, which the UI shows as a notice instead of failing.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from tuidock.core.userfiles import DOCUMENT_MAX, UserFileError, read_user_text

UI_FILE = "ui.toml"


@dataclass
class UIConfig:
    theme: str | None = None
    mouse: bool = True
    shell: str = "embedded"
    stats_interval: float = 2.0
    stop_timeout: int | None = None
    exec_shell: str | None = None
    problems: list[str] = field(default_factory=list)


def load_ui_config(config_dir: Path) -> UIConfig:
    cfg = UIConfig()
    path = config_dir / UI_FILE
    try:
        data = tomllib.loads(read_user_text(str(path), "config file", DOCUMENT_MAX))
    except FileNotFoundError:
        return cfg
    except (OSError, UserFileError, tomllib.TOMLDecodeError) as exc:
        cfg.problems.append(f"{path}: {exc}")
        return cfg
    if isinstance(data.get("theme"), str):
        cfg.theme = data["theme"]
    if isinstance(data.get("mouse"), bool):
        cfg.mouse = data["mouse"]
    if data.get("shell") in ("embedded", "fullscreen"):
        cfg.shell = data["shell"]
    elif "shell" in data:
        cfg.problems.append(f'{path}: shell must be "embedded" or "fullscreen"')
    interval = data.get("stats_interval")
    if isinstance(interval, int | float) and not isinstance(interval, bool):
        cfg.stats_interval = min(60.0, max(0.5, float(interval)))
    timeout = data.get("stop_timeout")
    if isinstance(timeout, int) and not isinstance(timeout, bool) and timeout >= 0:
        cfg.stop_timeout = timeout
    exec_shell = data.get("exec_shell")
    if isinstance(exec_shell, str) and exec_shell.strip():
        cfg.exec_shell = exec_shell.strip()
    return cfg
