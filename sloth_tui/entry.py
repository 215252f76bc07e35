"""The `sloth-tui` program: a scripted JSON query a daemon can answer directly is answered
without loading click (quick_query.py); everything else is the click command line."""

from __future__ import annotations

import sys


def main() -> None:
    argv = sys.argv[1:]
    if "--json" in argv and "list" in argv:  # any other command skips even this import
        from sloth_tui.quick_query import answer

        code = answer(argv)
        if code is not None:
            sys.exit(code)
    from sloth_tui.cli import main as command_line

    command_line()
