"""The fleet: many engines on NATS JetStream (serve --nats URL, or [nats] url).

Each engine still writes its own SQLite store first. Then:
- `publisher`: its own events and runs go out from the store's outbox (schema 9) to
  `sloth.events.<category>.<action>` and `sloth.executions.<hook>`, each with its
  fleet-wide id as the message id (JetStream drops a retried publish);
- `intake`: every other engine's events and runs come in through `EngineAPI.mirror`,
  keyed by fleet id, with their `origin`;
- `runner`: each hook has one durable consumer shared by every engine, so it runs once
  per event across the fleet; a run is acked only once its record is durable, and a
  done-marker in KV makes a redelivered, already finished run a no-op;
- `registry`: hooks (metadata and Lua) and `state.*` live in KV buckets;
- `membership`: heartbeats, the members' states and the agent.* events, each recorded once.

`link.FleetLink` is the one NATS connection; `sources/fleet.py` starts the parts above
(each a `parts.FleetPart`) as one Source. Nothing here runs without --nats: the embedded
single-machine engine stays the default.
"""
