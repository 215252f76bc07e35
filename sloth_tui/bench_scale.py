"""`sloth-tui bench --scale N`: queries, first screen and sizes on a big store (issue 19;
owner: helper P1, who replaces this placeholder)."""

from __future__ import annotations


async def run_scale_bench(n: int) -> dict[str, float]:
    raise NotImplementedError("bench --scale: not built yet")
