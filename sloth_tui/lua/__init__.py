"""The hook runtime: Lua 5.4 (lupa) sandbox, limits and host API. Entry point: runtime.py.

runtime.py      HookRuntime, Limits, check_syntax, declared_event_types, bench helpers
worker.py       one LuaRuntime per thread: chunk cache, one run -> Execution
context.py      one run's host calls (log/http/dispatch/state/json), recorded in `calls`
http_client.py  urllib client: caps, deadline, http(s) only
convert.py      values across the boundary, error positions
limits.py       Limits and the per-run recording caps
host.py         HostAPI, the protocol the engine implements
*.lua           privileged Lua: encode (JSON out), guard (limits), api, patterns (string
                matching the limits can stop), sandbox (env, runner)
"""
