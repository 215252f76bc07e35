"""Take the README's screenshot of `sloth-tui web`: a real browser on the real dashboard.

    python scripts/web_screenshot.py [--out screenshots/web-events.png]

Starts `sloth-tui serve` on a temporary home, sends a few events through the CLI,
starts `sloth-tui web` on a free loopback port, opens it in headless Chromium
(/usr/bin/chromium, or SLOTH_TUI_CHROMIUM) over the DevTools protocol, waits until the
Events screen shows the last event, and saves the page as a PNG. Every process it
starts is stopped by its PID; the home is deleted. Never touches your data.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The browser driver and the daemon helper are the tests' own (tests/cli/browserkit.py,
# tests/sources/sourcekit.py), so the screenshot is made the way the test checks it.
sys.path[:0] = [str(ROOT / "tests" / "cli"), str(ROOT / "tests" / "sources")]

from browserkit import CHROMIUM, browser_page, free_port, web_server  # noqa: E402
from sourcekit import SLOTH, DaemonProcess, run_cli  # noqa: E402

EVENTS = (
    (
        "deploy.started",
        "deploy_id=deploy-2141",
        "service=api-server",
        "version=v2.14.0",
        "environment=production",
    ),
    (
        "task.started",
        "task_name=migrate_db",
        "agent_name=agent-build-02",
        "start_time=2026-12-02T08:00:00Z",
    ),
    (
        "task.completed",
        "task_name=migrate_db",
        "agent_name=agent-build-02",
        "exit_code=0",
        "duration=41s",
    ),
    (
        "deploy.completed",
        "deploy_id=deploy-2141",
        "service=api-server",
        "version=v2.14.0",
        "duration=1m28s",
    ),
    (
        "deploy.failed",
        "deploy_id=deploy-2142",
        "service=billing",
        "error=health check timed out after 30s",
        "rollback_needed=true",
    ),
    (
        "task.failed",
        "task_name=warm_cache",
        "agent_name=agent-edge-07",
        "error=timed out after 30s",
        "exit_code=124",
    ),
    (
        "backup.completed",
        "backup_id=backup-20261202-020000",
        "size=734003200",
        "duration=3m05s",
        "destination=s3://sloth-backups/db-primary/nightly.tar.zst",
    ),
)


async def shoot(out: Path, width: int, height: int) -> None:
    if not CHROMIUM.exists():
        raise SystemExit(f"no Chromium at {CHROMIUM}: apt-get install chromium")
    with tempfile.TemporaryDirectory(prefix="sloth-tui-web-shot-") as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        daemon = DaemonProcess(home).start("--no-monitor")
        try:
            for args in EVENTS:
                sent = run_cli("--home", str(home), "emit", *args)
                if sent.returncode:
                    raise SystemExit(f"emit {args[0]} failed: {sent.stderr.strip()}")
            port = free_port()
            with web_server(SLOTH, home, port, Path(tmp) / "web.log"):
                async with browser_page(f"http://127.0.0.1:{port}/", width, height) as page:
                    last = EVENTS[-1][0]
                    await page.wait_for_rows(
                        lambda rows: "1 Events" in rows[0] and last in "\n".join(rows)
                    )
                    # A frame after the rows: xterm paints the canvas on the next frame.
                    await page.evaluate(
                        "new Promise(r => requestAnimationFrame(() => r(1)))", await_promise=True
                    )
                    out.parent.mkdir(parents=True, exist_ok=True)
                    out.write_bytes(await page.screenshot())
        finally:
            daemon.kill()
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots" / "web-events.png")
    parser.add_argument("--width", type=int, default=1280)
    parser.add_argument("--height", type=int, default=400)
    args = parser.parse_args()
    asyncio.run(shoot(args.out, args.width, args.height))


if __name__ == "__main__":
    main()
