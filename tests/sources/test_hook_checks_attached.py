"""`hook add`/`hook update` attached to `serve`: the daemon compiles the Lua and reads the
file's event_types (EngineAPI.check_syntax / declared_event_types), not the CLI.

The CLI runs with a `lupa` that cannot be imported, so any Lua the CLI process tried to
run itself would fail; the daemon, started normally, has the real one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from sourcekit import DaemonProcess, run_cli

Daemons = Callable[..., DaemonProcess]


def _cli_without_lua(tmp_path: Path) -> dict[str, str]:
    poisoned = tmp_path / "no_lua"
    (poisoned / "lupa").mkdir(parents=True)
    (poisoned / "lupa" / "__init__.py").write_text(
        "raise ImportError('the CLI must ask the daemon, not run Lua itself')\n"
    )
    path = os.pathsep.join(p for p in [str(poisoned), os.environ.get("PYTHONPATH", "")] if p)
    return {"PYTHONPATH": path}


def test_an_attached_hook_add_asks_the_daemon(daemons: Daemons, tmp_path: Path) -> None:
    d = daemons().start("--no-monitor", "--no-watchers")
    home = ["--home", str(d.home)]
    env = _cli_without_lua(tmp_path)

    broken = tmp_path / "broken.lua"
    broken.write_text("function on_event()\n  return (\nend\n")
    refused = run_cli(
        *home, "hook", "add", "b", "--event", "deploy.*", "--file", str(broken), env=env
    )
    assert refused.returncode == 1, refused.stderr
    assert refused.stderr.startswith(f"error: syntax error in {broken} line 3:"), refused.stderr
    assert "pass --force to add it anyway" in refused.stderr

    declared = tmp_path / "declared.lua"
    declared.write_text(
        'return { event_types = {"deploy.failed", "task.*"},\n'
        "  execute = function(event) return true end }\n"
    )
    added = run_cli(*home, "hook", "add", "d", "--file", str(declared), env=env)
    assert added.returncode == 0, added.stderr
    assert "added hook d (deploy.failed, task.*)" in added.stdout

    updated = run_cli(*home, "hook", "update", "d", "--file", str(broken), env=env)
    assert updated.returncode == 1, updated.stderr
    assert "pass --force to use it anyway" in updated.stderr
    forced = run_cli(*home, "hook", "update", "d", "--file", str(broken), "--force", env=env)
    assert forced.returncode == 0, forced.stderr
    assert "the hook fails on every event until it is fixed" in forced.stderr

    # The poison is real: the same CLI cannot run a hook without the daemon.
    d.kill()
    local = run_cli(*home, "--embedded", "hook", "add", "x", "--file", str(declared), env=env)
    assert local.returncode != 0
