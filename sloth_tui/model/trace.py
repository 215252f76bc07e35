"""An event's tree: event -> hook runs -> the events those runs dispatched -> ... .

SEAM (owner: the trace helper): fill in the fields; keep to_dict/from_dict (the socket).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Trace:
    root_id: int
    asked_id: int
    nodes: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"root_id": self.root_id, "asked_id": self.asked_id, "nodes": self.nodes}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trace:
        return cls(int(d["root_id"]), int(d["asked_id"]), list(d.get("nodes") or []))
