"""`python -m tuidock`: the CLI, started and ended as fast as CPython allows (see cli/entry.py)."""

from tuidock.cli.entry import main

main()
