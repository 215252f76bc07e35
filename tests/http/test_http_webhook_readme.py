"""The README's webhook section, tested as written (issue 18).

Its ```toml block becomes the config.toml of a real `serve --http` subprocess, and its
```sh block runs with bash against it. The only changes: the port 8080 becomes this
test's free port, and `~/.config/sloth-tui` (where the example's secret file lives)
becomes the test's home. The secret and token files the config names are written here."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from sourcekit import DaemonProcess, daemons, events_of, wait_for

__all__ = ["daemons"]  # a fixture, used by name

README = Path(__file__).resolve().parents[2] / "README.md"
MARKER = "<!-- section:webhooks -->"


def section() -> str:
    text = README.read_text(encoding="utf-8")
    assert MARKER in text, "the README lost its webhooks marker"
    rest = text.split(MARKER, 1)[1]
    return rest.split("<!-- section:", 1)[0]


def blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```$", text, flags=re.DOTALL | re.MULTILINE)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_the_section_has_its_blocks() -> None:
    text = section()
    assert text.lstrip().startswith("### Webhooks")
    assert len(blocks(text, "toml")) == 1 and len(blocks(text, "sh")) == 1
    assert "8080" in blocks(text, "sh")[0] and "openssl dgst -sha256 -hmac" in text


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")
def test_the_readme_curl_examples_work_as_written(
    daemons: Callable[[Path | None], DaemonProcess], tmp_path: Path
) -> None:
    text = section()
    port = free_port()
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.toml").write_text(blocks(text, "toml")[0].replace("8080", str(port)))
    (home / "github-webhook-secret").write_text("an-example-secret-of-32-characters\n")
    (home / "deploys-token").write_text("an-example-token-of-32-characters\n")
    daemon = daemons(home).start("--http", f"127.0.0.1:{port}")
    wait_for(lambda: listening(port), timeout=20, what="the HTTP listener")

    script = blocks(text, "sh")[0].replace("8080", str(port))
    script = script.replace("~/.config/sloth-tui", str(home))
    run = subprocess.run(
        ["bash", "-e", "-o", "pipefail", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, (run.stdout, run.stderr, daemon.output())
    replies = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert len(replies) == 2 and all(r["ok"] and len(r["ids"]) == 1 for r in replies), replies
    events = {e["source"]: e for e in events_of(home, "custom")}
    assert events["webhook:alertmanager"]["data"]["name"] == "DiskFull"
    assert events["webhook:github"]["data"]["name"] == "push"
    assert events["webhook:github"]["data"]["message"] == "Fix the build"
