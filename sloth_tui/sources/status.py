"""The state every source reports through health(): kept the same way by each of them."""

from __future__ import annotations

from dataclasses import dataclass

from sloth_tui.model.errors import SlothError
from sloth_tui.model.stats import SourceHealth


@dataclass(slots=True)
class Status:
    """stopped (also before the start), running, or failed with its one-line reason."""

    name: str
    kind: str
    state: str = "stopped"
    reason: str = ""

    def running(self) -> None:
        self.state, self.reason = "running", ""

    def stopped(self) -> None:
        if self.state != "failed":  # a failed source stays failed: its reason is the news
            self.state = "stopped"

    def failed(self, error: SlothError) -> SlothError:
        """Note the failure; returns the error for the caller to raise."""
        self.state, self.reason = "failed", one_line(str(error))
        return error

    def health(self, detail: str = "") -> SourceHealth:
        """`detail` is what a running or stopped source says; a failed one gives its reason."""
        text = self.reason if self.state == "failed" else detail
        return SourceHealth(self.name, self.kind, self.state, one_line(text))


def one_line(text: str) -> str:
    """Plain text on one line: the dashboard and `doctor` show it in a cell."""
    return " ".join(text.split())
