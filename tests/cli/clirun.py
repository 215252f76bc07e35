"""Run the CLI in a fresh interpreter and read back which modules it imported.

Shared by the start-up tests (test_cli_lean_imports.py, test_cli_startup_*.py): each
command runs as `python -m sloth_tui` does, then the loaded modules are printed on
stderr after a "MODULES " marker.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

RUN_AND_LIST = """\
import runpy, sys
sys.argv = ["sloth-tui", *sys.argv[1:]]
try:
    runpy.run_module("sloth_tui", run_name="__main__")
except SystemExit as exit:
    code = exit.code
else:
    code = 0
sys.stderr.write("\\nMODULES " + " ".join(sorted(sys.modules)) + "\\n")
sys.exit(code)
"""


@dataclass(frozen=True)
class Listing:
    code: int
    out: str
    err: str  # stderr before the module list
    modules: set[str]


def run_listing(home: Path, *args: str) -> Listing:
    """`sloth-tui --home HOME ARGS...` in a fresh interpreter."""
    done = subprocess.run(
        [sys.executable, "-c", RUN_AND_LIST, "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    err, _, listed = done.stderr.rpartition("MODULES ")
    return Listing(done.returncode, done.stdout, err.strip(), set(listed.split()))
