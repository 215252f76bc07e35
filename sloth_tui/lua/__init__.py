"""The hook runtime: Lua 5.4 (lupa) sandbox, limits and host API. Entry point: runtime.py.

runtime.py      HookRuntime, Limits, check_syntax, declared_event_types, bench helpers
worker.py       one LuaRuntime per thread: chunk cache, host module wiring, one run -> Execution
context.py      one run's view of the host: record (`logs`, `calls`), host memory budget
modules/        the host modules hooks call (log, json, http, state, event): one
                descriptor each (modules/base.py) and their registry (modules/__init__.py)
http_client.py  urllib client: caps, deadline, http(s) only
convert.py      values across the boundary, error positions
limits.py       Limits and the per-run recording caps
host.py         HostAPI, the protocol the engine implements
*.lua           privileged Lua: encode (JSON out), guard (limits), patterns (string
                matching the limits can stop), sandbox (env, runner)
"""
