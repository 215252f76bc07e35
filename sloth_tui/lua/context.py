"""One run's view of the host: what the hook's log/http/event/state calls do.

The sandbox calls these methods (through the worker) from the hook's thread.
They never raise: a failure comes back as values the Lua wrapper turns into
`nil, err` or a Lua error at the hook's line. Every host call lands in `calls`;
in a dry run http and dispatch are only recorded and state writes go to an
overlay that reads fall through.
"""

from __future__ import annotations

import json
import time
from typing import Any

from sloth_tui.lua import http_client
from sloth_tui.lua.budget import LIMIT_NAME, HostBudget
from sloth_tui.lua.convert import clip, integral, jsonable, loads, to_lua
from sloth_tui.lua.host import HostAPI
from sloth_tui.lua.limits import (
    JSON_DECODE_MAX,
    LOG_BYTES_MAX,
    MAX_CALLS,
    MAX_LOG_LINES,
    RECORD_BYTES_MAX,
    RECORD_TEXT_MAX,
    Limits,
    size_text,
)
from sloth_tui.model.errors import EventRefused
from sloth_tui.model.records import Event, LogLine

_DELETED = object()  # dry-run overlay: deleted in this run, do not fall through
_DRY_RESPONSE = {"status": 200, "body": "", "headers": {}, "ok": True, "dry_run": True}
_PAYLOADS = ("data", "value", "body")  # the call fields that can be large: kept clipped
_HOST_MEMORY = Limits().host_memory
_ALWAYS_KEPT = 256  # payloads this small are kept whole even past RECORD_BYTES_MAX


class RunContext:
    __slots__ = (
        "_lua",
        "budget",
        "calls",
        "deadline",
        "dropped_calls",
        "dropped_logs",
        "dry_run",
        "event",
        "hook",
        "host",
        "http_body_cap",
        "log_bytes",
        "logs",
        "overlay",
        "record_bytes",
        "source",
    )  # fmt: skip

    def __init__(
        self,
        lua: Any,
        host: HostAPI,
        hook: str,
        event: Event,
        *,
        dry_run: bool,
        deadline: float,
        http_body_cap: int,
        logs: list[LogLine],
        calls: list[dict[str, Any]],
        host_memory: int = _HOST_MEMORY,
    ) -> None:
        self._lua = lua
        self.host = host
        self.hook = hook
        self.source = f"hook:{hook}"
        self.event = event
        self.dry_run = dry_run
        self.deadline = deadline
        self.http_body_cap = http_body_cap
        self.logs = logs
        self.calls = calls
        self.overlay: dict[str, Any] | None = {} if dry_run else None
        self.dropped_logs = 0
        self.dropped_calls = 0
        self.budget = HostBudget(host_memory)
        self.log_bytes = 0  # log text kept in `logs`
        self.record_bytes = 0  # payload text kept in `calls`

    # -- recording -------------------------------------------------------------
    def record(self, call: dict[str, Any]) -> None:
        """Keep `call` in the record, its payloads clipped: the record travels in
        replies and notices, so it holds copies of bounded size, never the data."""
        if len(self.calls) >= MAX_CALLS:
            self.dropped_calls += 1
            return
        for key in _PAYLOADS:
            if key in call:
                call[key] = self._kept(call[key])
        self.calls.append(call)

    def _kept(self, value: Any) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            text = value
        else:
            try:
                text = json.dumps(value, ensure_ascii=False, default=str)
            except (ValueError, RecursionError):
                text = repr(value)
        size = min(len(text), RECORD_TEXT_MAX)
        if size > _ALWAYS_KEPT and self.record_bytes + size > RECORD_BYTES_MAX:
            return f"…[{len(text)} characters not kept: {size_text(RECORD_BYTES_MAX)} per run]"
        self.record_bytes += size
        if len(text) > RECORD_TEXT_MAX:
            return clip(text, RECORD_TEXT_MAX)  # the JSON text, cut: no longer a table
        return value

    def _charge(self, size: int, fn: str, failed: Any) -> Any:
        """None while the run's host budget holds; else the refusal a bridge method
        returns: (failed, message, "host_memory"), and the Lua side trips the limit."""
        if self.budget.charge(size, fn):
            return None
        return failed, f"{fn}: host memory limit exceeded", LIMIT_NAME

    def log(self, level: str, message: str) -> str | None:
        """None, or the limit to trip when the run's host budget is spent."""
        size = len(message)
        if len(self.logs) >= MAX_LOG_LINES or self.log_bytes + size > LOG_BYTES_MAX:
            self.dropped_logs += 1  # not kept, so not charged
            return None
        if not self.budget.charge(size, "log"):
            return LIMIT_NAME
        self.log_bytes += size
        self.logs.append(LogLine(level, time.time(), message))
        return None

    def close(self) -> None:
        """Say what the caps dropped, so a truncated record is visibly truncated."""
        if self.dropped_logs:
            note = (
                f"{self.dropped_logs} more log lines dropped (limit {MAX_LOG_LINES} lines"
                f" or {size_text(LOG_BYTES_MAX)} per run)"
            )
            self.logs.append(LogLine("warn", time.time(), note))
        if self.dropped_calls:
            self.calls.append({"fn": "calls.dropped", "count": self.dropped_calls})
        if self.budget.exceeded_by is not None:
            note = (
                f"{self.budget.exceeded_by} refused: host memory limit"
                f" ({size_text(self.budget.limit)} per run; {self.budget.used:,} bytes used)"
            )
            self.logs.append(LogLine("error", time.time(), note))

    # -- json --------------------------------------------------------------------
    def json_decode(self, text: str) -> Any:
        if len(text) > JSON_DECODE_MAX:
            return None, f"json.decode: input larger than {JSON_DECODE_MAX} bytes"
        if refused := self._charge(len(text), "json.decode", None):
            return refused
        try:
            return to_lua(self._lua, loads(text))
        except (ValueError, RecursionError) as exc:
            return None, f"json.decode: {exc}"

    # -- http --------------------------------------------------------------------
    def http(
        self,
        method: str,
        url: str,
        kind: str | None,
        payload: str | None,
        headers_json: str | None,
        timeout: float | None,
    ) -> tuple[Any, str | None, str | None]:
        """(response table, None, None) | (None, error, limit-or-None)."""
        fn = f"http.{method.lower()}"
        if refused := self._charge(len(payload or ""), fn, None):
            return refused  # type: ignore[no-any-return]
        body: Any = None
        if payload is not None:
            body = loads(payload) if kind == "json" and len(payload) <= RECORD_TEXT_MAX else payload
            if isinstance(body, str):
                body = clip(body, RECORD_TEXT_MAX)
        call: dict[str, Any] = {
            "fn": fn, "url": url, "method": method, "body": body, "status": None,
            "error": None, "duration_ms": 0.0, "dry_run": self.dry_run,
        }  # fmt: skip
        if self.dry_run:
            call["status"] = 200
            self.record(call)
            return to_lua(self._lua, _DRY_RESPONSE), None, None
        start = time.monotonic()
        remaining = self.deadline - start
        if remaining <= 0:
            call["error"] = "deadline reached before the request"
            self.record(call)
            return None, f"{fn} {url}: deadline reached", "timeout"
        wait = remaining if timeout is None or timeout <= 0 else min(timeout, remaining)
        try:
            headers = self._headers(headers_json, kind)
            data = payload.encode("utf-8") if payload is not None else None
            resp = http_client.request(
                method, url, data, headers, timeout=wait, deadline=self.deadline,
                cap=self.http_body_cap,
            )  # fmt: skip
        except http_client.HttpFailure as exc:
            call["error"] = str(exc)
            call["duration_ms"] = (time.monotonic() - start) * 1000
            self.record(call)
            limit = "timeout" if time.monotonic() >= self.deadline else None
            return None, f"{fn} {url}: {exc}", limit
        call["status"] = resp.status
        call["truncated"] = resp.truncated
        call["duration_ms"] = (time.monotonic() - start) * 1000
        self.record(call)
        if refused := self._charge(len(resp.body), fn, None):
            return refused  # type: ignore[no-any-return]
        table = {
            "status": resp.status, "body": resp.body, "headers": resp.headers,
            "json": resp.json, "truncated": resp.truncated, "ok": 200 <= resp.status < 300,
        }  # fmt: skip
        try:
            return to_lua(self._lua, table), None, None
        except Exception as exc:  # e.g. the decoded JSON does not fit the memory cap
            return None, f"{fn} {url}: response too large for the hook: {exc}", None

    @staticmethod
    def _headers(headers_json: str | None, kind: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if headers_json:
            raw = loads(headers_json)
            if isinstance(raw, dict):
                headers = {
                    str(k): v if isinstance(v, str) else json.dumps(v) for k, v in raw.items()
                }
        if kind and not any(k.lower() == "content-type" for k in headers):
            ctype = "application/json" if kind == "json" else "text/plain; charset=utf-8"
            headers["Content-Type"] = ctype
        return headers

    # -- events --------------------------------------------------------------------
    def dispatch(self, fn: str, etype: str, data_json: str) -> tuple[Any, Any]:
        """(True, id) | (None, error). The engine sets parent_id/depth from `parent`."""
        if refused := self._charge(len(data_json), fn, None):
            return refused  # type: ignore[no-any-return]
        data = loads(data_json)
        call: dict[str, Any] = {
            "fn": fn, "type": etype, "data": data, "id": None, "error": None,
            "dry_run": self.dry_run,
        }  # fmt: skip
        if not isinstance(data, dict):
            call["error"] = "event data must be a table with named fields, not a list"
            self.record(call)
            return None, f"{fn}: {call['error']}"
        if self.dry_run:
            self.record(call)
            return True, None
        try:
            new_id = self.host.dispatch(etype, data, parent=self.event, source=self.source)
        except EventRefused as exc:
            call["error"] = str(exc)
            self.record(call)
            return None, str(exc)
        except Exception as exc:  # the host failing must not crash the hook
            call["error"] = f"dispatch failed: {exc or type(exc).__name__}"
            self.record(call)
            return None, call["error"]
        call["id"] = new_id
        self.record(call)
        return True, new_id

    # -- state -----------------------------------------------------------------------
    def state(self, op: str, key: str, value_json: str | None, by: Any) -> tuple[bool, Any]:
        """(True, value) | (False, error); the Lua side raises the error at the hook's line."""
        if refused := self._charge(len(value_json or ""), f"state.{op}", False):
            return refused  # type: ignore[no-any-return]
        call: dict[str, Any] = {"fn": f"state.{op}", "key": key}
        try:
            if op == "get":
                value = jsonable(self._state_read(key))
                call["value"] = value
                result = to_lua(self._lua, value)
            elif op == "set" and value_json is not None:
                value = loads(value_json)
                call["value"] = value
                if self.overlay is not None:
                    self.overlay[key] = value
                else:
                    self.host.state_set(self.hook, key, value)
                result = True
            elif op in ("set", "delete"):  # set(key, nil) deletes
                call["fn"] = "state.delete"
                if self.overlay is not None:
                    self.overlay[key] = _DELETED
                else:
                    self.host.state_delete(self.hook, key)
                result = True
            elif op == "incr":
                call["by"] = by
                if self.overlay is not None:
                    current = self._state_read(key)
                    numeric = isinstance(current, int | float) and not isinstance(current, bool)
                    base = current if numeric else 0
                    value = base + by
                    self.overlay[key] = value
                else:
                    value = self.host.state_incr(self.hook, key, by)
                result = call["value"] = integral(value)
            else:
                return False, f"unknown state operation {op!r}"
        except Exception as exc:  # store closed, engine stopping...
            call["error"] = str(exc) or type(exc).__name__
            self.record(call)
            return False, call["error"]
        if self.dry_run:
            call["dry_run"] = True
        self.record(call)
        return True, result

    def _state_read(self, key: str) -> Any:
        if self.overlay is not None and key in self.overlay:
            value = self.overlay[key]
            return None if value is _DELETED else value
        return self.host.state_get(self.hook, key)
