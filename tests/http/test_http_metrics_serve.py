"""GET /metrics from a real `serve --http` process: events sent over the socket are
counted, the producers' health lines are there, the store size is the daemon's files."""

from __future__ import annotations

import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sourcekit import DaemonProcess, ask

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape(url: str) -> Samples | None:
    """One scrape parsed by the library's parser; None while nothing answers yet."""
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            assert resp.status == 200
            text = resp.read().decode("utf-8")
    except (urllib.error.URLError, ConnectionError):
        return None
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape_until(url: str, ok: Callable[[Samples], bool], timeout: float = 20.0) -> Samples:
    deadline = time.monotonic() + timeout
    last: Samples | None = None
    while True:
        last = scrape(url)
        if last is not None and ok(last):
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"metrics never matched; last scrape: {last}")
        time.sleep(0.05)


def pings(found: Samples) -> float | None:
    return found.get(
        ("sloth_events_total", frozenset({("category", "myapp"), ("type", "myapp.ping")}))
    )


def test_serve_http_scrapes_events_sent_over_the_socket(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    d = DaemonProcess(home)
    try:
        _scrape_a_daemon(d)
    finally:
        d.kill()


def _scrape_a_daemon(d: DaemonProcess) -> None:
    port = free_port()
    d.start("--http", f"127.0.0.1:{port}")
    url = f"http://127.0.0.1:{port}/metrics"
    # The listener may start after the socket answers: wait for it before sending, so
    # every event below comes after its subscription.
    scrape_until(url, lambda f: True)
    replies = ask(d.socket, *({"type": "myapp.ping", "data": {"n": i}} for i in range(7)))
    assert all(r["ok"] for r in replies), replies
    found = scrape_until(url, lambda f: pings(f) == 7)
    up = {
        dict(labels)["kind"]: v for (name, labels), v in found.items() if name == "sloth_source_up"
    }
    assert up.get("socket") == 1, up
    assert up.get("http") == 1, up
    size = found[("sloth_store_size_bytes", frozenset())]
    db = d.home / "sloth.db"
    assert size > 0 and db.stat().st_size > 0
    assert found[("sloth_engine_events_total", frozenset())] >= 7
