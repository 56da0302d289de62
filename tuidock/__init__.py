"""tuidock: a daemonless container engine with a keyboard-first terminal UI."""

__version__ = "0.1.0"
