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


class StoreError(SlothError):
    """The database or the data dir cannot be used: unreadable, damaged, emptied, replaced,
    not SQLite, written by a newer sloth-tui. The message names the file and what to do."""


class WriteRefused(StoreError, EventRefused):
    """A write was not stored because of the store, not the event (damaged, read-only).

    An EventRefused as well: a producer is told its event was refused (error_type
    `refused`), and a caller that tolerates refusals (system.shutdown at close) goes on."""


class DiskFull(WriteRefused):
    """The disk holding the data dir is full. Nothing was stored; reads still work, and
    writes work again once space returns."""
