"""HttpContext: what every route module of the listener is given (app.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sloth_tui.config import Settings
from sloth_tui.http.replies import Refusals
from sloth_tui.http.settings import HttpSettings

if TYPE_CHECKING:
    from sloth_tui.engine.api import EngineAPI


@dataclass(slots=True)
class HttpContext:
    engine: EngineAPI  # the daemon's engine: routes reach it only through EngineAPI
    settings: Settings  # the whole config (webhooks read their [[webhooks]] from it)
    http: HttpSettings  # [http] and --http
    refusals: Refusals  # every refused request is counted here; /metrics exports it
