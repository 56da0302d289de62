"""Textual screens of the tuidock UI."""
