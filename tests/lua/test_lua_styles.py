"""Both hook styles, outcomes, error lines, loading, and the compile-only helpers."""

from __future__ import annotations

import os
import time

from sloth_tui.lua.runtime import check_syntax, declared_event_types


def test_global_style_true_is_success(runtime, make_hook, deploy_event):
    hook = make_hook(
        "function on_event()\n"
        '  log.info(event.type .. " " .. event.data.service)\n'
        "  return true\nend\n"
    )
    before = time.time()
    exe = runtime.run(hook, deploy_event)
    after = time.time()
    assert exe.status == "success"
    assert exe.result is True
    assert [line.message for line in exe.logs] == ["deploy.failed api-server"]
    assert exe.hook == hook.name
    assert exe.event_id == 1
    assert exe.error is None and exe.limit is None
    assert before <= exe.started <= after
    assert exe.duration_ms > 0


def test_returning_nothing_is_success(runtime, make_hook, deploy_event):
    exe = runtime.run(make_hook("function on_event() end"), deploy_event)
    assert exe.status == "success"
    assert exe.result is None


def test_false_is_failed(runtime, make_hook, deploy_event):
    exe = runtime.run(make_hook("function on_event() return false end"), deploy_event)
    assert exe.status == "failed"
    assert exe.result is False
    assert exe.error is None


def test_false_with_reason(runtime, make_hook, deploy_event):
    exe = runtime.run(
        make_hook('function on_event() return false, "not my service" end'), deploy_event
    )
    assert exe.status == "failed"
    assert exe.error == "not my service"


def test_table_style(runtime, make_hook, deploy_event):
    code = """
return {
  event_types = {"deploy.failed"},
  execute = function(event)
    log.warn("service " .. event.data.service)
    return true
  end,
}
"""
    exe = runtime.run(make_hook(code), deploy_event)
    assert exe.status == "success"
    assert exe.logs[0].level == "warn"
    assert exe.logs[0].message == "service api-server"


def test_table_style_receives_the_event_even_if_global_is_replaced(
    runtime, make_hook, deploy_event
):
    code = "event = nil\nreturn { execute = function(e) return e.id end }"
    exe = runtime.run(make_hook(code), deploy_event)
    assert exe.status == "success"
    assert exe.result == 1


def test_table_results_become_json_values(runtime, make_hook, deploy_event):
    code = 'function on_event() return {list = {1, 2.5, "x"}, map = {a = true}, empty = {}} end'
    exe = runtime.run(make_hook(code), deploy_event)
    assert exe.result == {"list": [1, 2.5, "x"], "map": {"a": True}, "empty": {}}


def test_runtime_error_has_message_and_line(runtime, make_hook, deploy_event):
    code = "function on_event()\n  local x\n  return 'a' .. x\nend\n"
    hook = make_hook(code, file="deploy_alert.lua")
    exe = runtime.run(hook, deploy_event)
    assert exe.status == "error"
    assert exe.error == "deploy_alert.lua:3: attempt to concatenate a nil value (local 'x')"
    assert exe.error_line == 3


def test_error_without_position_gets_the_hook_line(runtime, make_hook, deploy_event):
    hook = make_hook("function on_event()\n\n  error('plain', 0)\nend", file="h.lua")
    exe = runtime.run(hook, deploy_event)
    assert exe.error == "h.lua:3: plain"
    assert exe.error_line == 3


def test_error_with_a_table_value(runtime, make_hook, deploy_event):
    exe = runtime.run(
        make_hook("function on_event() error({code = 7}) end", file="t.lua"), deploy_event
    )
    assert exe.status == "error"
    assert exe.error == 't.lua:1: error object: {"code":7}'


def test_missing_file_is_an_error_execution(runtime, deploy_event, make_hook, tmp_path):
    hook = make_hook("")
    hook.file = str(tmp_path / "gone.lua")
    exe = runtime.run(hook, deploy_event)
    assert exe.status == "error"
    assert "hook file not found" in exe.error
    assert exe.event_id == 1


def test_syntax_error_is_an_error_execution(runtime, make_hook, deploy_event):
    hook = make_hook("function on_event()\n  if then\nend\n", file="broken.lua")
    exe = runtime.run(hook, deploy_event)
    assert exe.status == "error"
    assert exe.error.startswith("broken.lua:2: ")
    assert exe.error_line == 2


def test_bytecode_file_is_refused(runtime, make_hook, deploy_event):
    exe = runtime.run(make_hook("\x1bLua\x54\x00garbage"), deploy_event)
    assert exe.status == "error"
    assert "binary chunk" in exe.error


def test_no_entry_point(runtime, make_hook, deploy_event):
    exe = runtime.run(make_hook("local x = 1"), deploy_event)
    assert exe.status == "error"
    assert "no entry point" in exe.error


def test_code_argument_runs_instead_of_the_file(runtime, make_hook, deploy_event):
    hook = make_hook("function on_event() return 'file' end", file="editor.lua")
    exe = runtime.run(hook, deploy_event, code="function on_event() return 'buffer' end")
    assert exe.result == "buffer"
    broken = runtime.run(hook, deploy_event, code="function on_event(")
    assert broken.status == "error"
    assert broken.error.startswith("editor.lua:1:")


def test_edited_file_is_recompiled(runtime, make_hook, deploy_event):
    hook = make_hook("function on_event() return 1 end")
    assert runtime.run(hook, deploy_event).result == 1
    with open(hook.file, "w") as fh:
        fh.write("function on_event() return 22 end")
    st = os.stat(hook.file)
    os.utime(hook.file, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert runtime.run(hook, deploy_event).result == 22


def test_check_syntax():
    assert check_syntax("function on_event() return true end") is None
    line, message = check_syntax("local x = \n\nx = = 1", "mine.lua")
    assert line == 3
    assert message.startswith("mine.lua:3:")
    line, message = check_syntax("function f()\n")
    assert line == 2
    assert "'end' expected" in message


def test_check_syntax_does_not_run_code():
    assert check_syntax("while true do end") is None


def test_declared_event_types(make_hook):
    hook = make_hook(
        'return { event_types = {"cpu.high_usage", "deploy.*"}, execute = function() end }'
    )
    assert declared_event_types(hook.file) == ["cpu.high_usage", "deploy.*"]


def test_declared_event_types_empty_for_global_style_and_errors(make_hook):
    assert declared_event_types(make_hook("function on_event() end").file) == []
    assert declared_event_types(make_hook("return {").file) == []
    assert declared_event_types(make_hook("while true do end").file) == []
    assert declared_event_types("/nonexistent/hook.lua") == []


def test_declared_event_types_performs_no_host_calls(make_hook, http_server):
    code = f"""
http.post("{http_server.url}/x", {{a = 1}})
event.dispatch("deploy.rollback", {{}})
return {{ event_types = {{"deploy.failed"}}, execute = function() end }}
"""
    assert declared_event_types(make_hook(code).file) == ["deploy.failed"]
    assert http_server.received == []
