"""An edited hook replayed, in dry run, over recent real events: recorded vs new outcome.

SEAM (owner: the replay helper): fill in the fields; keep to_dict/from_dict (the socket).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class ReplayReport:
    hook: str
    rows: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"hook": self.hook, "rows": self.rows}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReplayReport:
        return cls(str(d["hook"]), list(d.get("rows") or []))
