"""The HTTP listener (sloth_tui/http) as a Source: `serve --http` or [http] (owner: H1)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sloth_tui.config import Settings

if TYPE_CHECKING:
    from sloth_tui.engine.api import Source
    from sloth_tui.sources.options import SourceOptions


def http_sources(settings: Settings, options: SourceOptions) -> list[Source]:
    """None until its owner builds it."""
    return []
