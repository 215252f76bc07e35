"""Why a hook ran on an event, or why not: one HookVerdict per hook (`hook explain`).

SEAM (owner: the explain helper): fill in the fields; keep to_dict/from_dict (the socket).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class HookVerdict:
    hook: str
    would_run: bool
    outcome: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HookVerdict:
        return cls(**d)
