"""The `tuidock` command's entry point (the console script and `python -m tuidock`).

Cyclic GC is off while ~150 modules load (nothing they allocate is
garbage; cli.main turns it back on, with the startup objects frozen, before
the command runs): it goes off when this module is imported, which the
console script does before it calls main(). The process ends with os._exit
once the output is flushed: tearing down the interpreter costs ~10-30 ms on
every call and does nothing a CLI call needs (no atexit work is registered
here).
"""

import gc
import os
import sys

gc.disable()


def _local_exec() -> bool:
    """The embedded engine runs this exec (an endpoint's goes through cli.main)."""
    from tuidock.cli.endpoints import remote_endpoint
    from tuidock.errors import TuidockError, report

    try:
        return remote_endpoint(None) is None
    except TuidockError as exc:
        os._exit(report(exc))


def main() -> None:
    if sys.argv[1:2] == ["exec"] and _local_exec():
        # `exec` is on the hot path of scripts and of the UI's shell pane: its
        # own small parser, without argparse and the other commands.
        from tuidock.cli.commands.exec import main as exec_main

        code = exec_main(sys.argv[2:])
    else:
        from tuidock.cli.main import main as cli_main

        code = cli_main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass  # e.g. a closed pipe: the output has nowhere to go anyway
    os._exit(code)
