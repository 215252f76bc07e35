"""Starter Lua for a new hook: an `on_event()` that reads each catalog field of its event type.

Pure text generation (no I/O, no Textual), so the new-hook dialog, the editor (a hook
whose file went missing) and the tests all share it.
"""

from __future__ import annotations

import re
from fnmatch import fnmatchcase

from sloth_tui import catalog
from sloth_tui.catalog import FieldSpec

# fmt: off
LUA_KEYWORDS = frozenset({
    "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto", "if",
    "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until", "while",
})
# Names a local must not shadow: the sandbox's globals and Lua's own.
HOST_NAMES = frozenset({
    "event", "log", "http", "json", "state", "print", "os", "string", "table", "math", "error",
    "type", "tostring", "tonumber", "pairs", "ipairs", "pcall", "select", "next", "assert",
})
# fmt: on


def lua_local(name: str) -> str:
    """A safe Lua local for a field name: `agent.name` -> agent_name, `error` -> err."""
    ident = re.sub(r"\W", "_", name.replace(".", "_")).strip("_") or "value"
    if ident[0].isdigit():
        ident = "f_" + ident
    if ident == "error":
        return "err"
    if ident in LUA_KEYWORDS or ident in HOST_NAMES:
        return ident + "_"
    return ident


def template_type(patterns: list[str]) -> str | None:
    """The catalog type a new hook's template is written for: the first one matched."""
    for pattern in patterns:
        if catalog.get(pattern) is not None:
            return pattern
        for name in catalog.type_names(extensions=True):
            if fnmatchcase(name, pattern):
                return name
    return None


def _read(spec: FieldSpec) -> str:
    """Lua expression reading one field from `d` (event.data), nil-safe for nested paths."""
    path = spec.path
    expr = "d"
    guards = []
    for key in path:
        expr = (
            f"{expr}.{key}"
            if re.fullmatch(r"[A-Za-z_]\w*", key) and key not in LUA_KEYWORDS
            else (f'{expr}["{key}"]')
        )
        guards.append(expr)
    read = " and ".join(guards) if len(guards) > 1 else expr
    if spec.kind == "list":
        return f"{read} or {{}}"
    if spec.kind == "object":
        return f"{read} or {{}}"
    return read


def render(name: str, patterns: list[str], event_type: str | None = None) -> str:
    """The Lua source of a new hook called `name` reacting to `patterns`."""
    event_type = event_type or template_type(patterns)
    spec = catalog.get(event_type) if event_type else None
    head = [
        f"-- {name}: runs on {', '.join(patterns) or '(no events yet)'}",
    ]
    if spec is not None:
        head.append(f"-- {spec.type}: {spec.description}")
        head.append("-- fields: " + ", ".join(f.name for f in spec.fields))
    head += [
        "-- host API: event, log, http, json, state, event.dispatch",
        "-- return true (or nothing): success; false: the run failed",
        "",
        "function on_event()",
        "  local d = event.data",
    ]
    body: list[str] = []
    if spec is not None and spec.fields:
        names = []
        for f in spec.fields:
            local = lua_local(f.name)
            names.append((f, local))
            body.append(f"  local {local} = {_read(f)}")
        fmt, args = [], []
        for f, local in names:
            if f.kind == "list":
                fmt.append(f"{f.name}=%d items")
                args.append(f"#{local}")
            else:
                fmt.append(f"{f.name}=%s")
                args.append(f"json.encode({local})" if f.kind == "object" else f"tostring({local})")
        body.append(f'  log.info(string.format("%s {" ".join(fmt)}",')
        if len(", ".join(args)) < 60:
            body.append("    event.type, " + ", ".join(args) + "))")
        else:  # one argument a line keeps the editor pane readable
            body += ["    event.type,", *(f"    {a}," for a in args[:-1]), f"    {args[-1]}))"]
    else:
        body += [
            "  for key, value in pairs(d) do",
            '    log.info(key .. "=" .. tostring(value))',
            "  end",
        ]
    tail = [
        "",
        "  -- Tell someone (a dry run records the call, sends nothing):",
        '  -- local resp, problem = http.post("https://hooks.example.com/alert",',
        "  --                                 {text = event.type})",
        '  -- if not resp then log.error("alert failed: " .. problem) return false end',
        "  return true",
        "end",
        "",
    ]
    return "\n".join(head + body + tail)


def file_stem(name: str) -> str:
    """The Lua file name (no suffix) for a hook name: `deploy-alert` -> deploy_alert."""
    return re.sub(r"[^A-Za-z0-9_]", "_", name) or "hook"
