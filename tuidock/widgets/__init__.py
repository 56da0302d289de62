"""Widgets of the tuidock UI: tables, the log view, the shell pane."""
