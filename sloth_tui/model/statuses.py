"""An event's statuses, in a module of their own: the click-free answers
(quick_query.py) check `--status` against them without loading the record types."""

EVENT_STATUSES: tuple[str, ...] = ("pending", "processing", "completed", "failed")
