"""sloth-tui: event engine and terminal dashboard for Sloth Runner hooks."""

__version__ = "0.1.0"
