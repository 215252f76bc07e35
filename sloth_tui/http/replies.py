"""The one shape of a refusal, and the counter every refusal goes through.

A refusal is JSON, as the socket's: {"ok": false, "error": "...", "error_type": "..."},
with the HTTP status that says the same. Each one is counted by (route, reason), so
/metrics can say who is knocking and why (`sloth_http_refusals_total`).
"""

from __future__ import annotations

import threading
from collections import Counter

from aiohttp import web


class Refusals:
    """Counts of refused requests by (route, reason); safe from any thread."""

    def __init__(self) -> None:
        self._counts: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def count(self, route: str, reason: str) -> None:
        with self._lock:
            self._counts[(route, reason)] += 1

    def snapshot(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())


def json_error(status: int, message: str, error_type: str = "bad_request") -> web.Response:
    """A refusal as the socket words one, with its HTTP status."""
    return web.json_response(
        {"ok": False, "error": message, "error_type": error_type}, status=status
    )


def refuse(
    refusals: Refusals,
    route: str,
    reason: str,
    status: int,
    message: str,
    error_type: str = "bad_request",
) -> web.Response:
    """Count the refusal under (route, reason), then answer it.

    `route` is the route's template ("/webhooks/{name}"), never the raw path, so a
    stranger cannot grow the metrics without bound; `reason` is a fixed word
    ("too_large", "bad_json", "unauthorized", ...)."""
    refusals.count(route, reason)
    return json_error(status, message, error_type)
