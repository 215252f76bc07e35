"""Producers of events, each a Source (engine/api.py): name, start(api), stop(), health().

registry.py builds them from config.toml, one line per kind; wiring.py's SourceSet
starts them in that order and stops them in the order a serving engine keeps, for
`serve` (daemon.py) and the dashboard's embedded engine (tui/embedded.py) alike.

Adding a source: a module here with a class that has `name`, `async start(api)`
(raising SlothError with one line when it cannot start), `async stop()` (hand what was
accepted to the engine before returning) and `health()` (sources/status.py keeps the
state), plus a factory `(settings, options) -> list[YourSource]`; then one line in
registry.REGISTRY. tests/sources/ticker_source.py is a complete example.
"""
