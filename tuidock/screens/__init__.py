"""Textual screens of the tuidock UI (issue #6)."""
