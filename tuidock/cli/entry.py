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


def main() -> None:
    if sys.argv[1:2] == ["exec"]:
        # `exec` is on the hot path of scripts and of the UI's shell pane: its
        # own small parser, without argparse and the other commands.
        from tuidock.cli.endpoints import require_local
        from tuidock.errors import TuidockError, report

        try:
            require_local("exec", None)
        except TuidockError as exc:
            code = report(exc)
        else:
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
