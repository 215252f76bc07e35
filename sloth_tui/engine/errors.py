"""Errors the engine raises. Each carries a message fit to show an operator as is."""


class SlothError(Exception):
    """Base class: a problem the user can act on (never a bug)."""


class EventRefused(SlothError):
    """An event was refused: bad name, bad data, strict-mode catalog mismatch, chain too deep."""


class HookError(SlothError):
    """A hook command failed: unknown name, duplicate name, missing file, bad pattern."""


class EngineLocked(SlothError):
    """Another engine already owns this data dir."""


class NotFound(SlothError):
    """An id or name that does not exist."""
