"""The UI's settings (ui.toml), as core.uisettings reads and validates them."""

from tuidock.core.uisettings import UI_FILE, UIConfig, load_ui_config

__all__ = ["UI_FILE", "UIConfig", "load_ui_config"]
