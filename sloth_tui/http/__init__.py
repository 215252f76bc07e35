"""The HTTP listener of `serve --http` (issue 18): events and webhooks in, metrics out.

aiohttp does the HTTP; this package only says what each route means. Layout:

- settings.py: `[http]` and `--http HOST:PORT`, parsed into HttpSettings;
- context.py: HttpContext, what every route module is given;
- replies.py: the JSON error shape and the refusal counter every refusal goes through;
- app.py: build_app() installs each route module in ROUTE_MODULES;
- server.py: the middlewares (token, limits, timeouts) and the listening site;
- events.py, health.py, webhooks.py, metrics.py: one route family each; webhooks read
  [[webhooks]] through webhook_config.py (presets/*.toml ship with the package) and map
  payloads with webhook_mapping.py; metrics count from the engine's notices
  (metrics_tally.py) and read the rest at scrape time (metrics_scrape.py).

The listener is a Source (sources/http_listener.py), so `serve` starts and stops it with
the other producers.
"""
