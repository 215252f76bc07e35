"""Placeholder: its owner replaces it (issue 18)."""

from __future__ import annotations

from aiohttp import web

from sloth_tui.http.context import HttpContext


def install(app: web.Application, ctx: HttpContext) -> None:
    """Add this module's routes to the listener's app."""
