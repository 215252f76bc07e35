"""`sloth-tui serve` as a real process: signals, the CLI through it, TCP, kill -9 recovery."""

from __future__ import annotations

import json
import re
import signal
import socket
import stat
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from sourcekit import (
    SIGNALS,
    SLOTH,
    DaemonProcess,
    ask,
    db_rows,
    events_of,
    run_cli,
    wait_for,
)

Daemons = Callable[..., DaemonProcess]
SLOW_HOOK = (
    "function on_event() local t = os.clock() while os.clock() - t < {s} do end return true end"
)


@pytest.mark.parametrize("signame", ["SIGTERM", "SIGINT"])
def test_serve_stops_cleanly_on_signals(daemons: Daemons, signame: str) -> None:
    d = daemons().start("--no-monitor", "--no-watchers")
    assert stat.S_IMODE(d.socket.stat().st_mode) == 0o600
    reply, reload = ask(
        d.socket, {"type": "deploy.failed", "data": {"service": "api"}}, {"op": "reload_watchers"}
    )
    assert reply["ok"] and "--no-watchers" in reload["error"]
    assert d.signal(SIGNALS[signame]) == 0
    assert not d.socket.exists()
    [shutdown] = events_of(d.home, "system.shutdown")
    assert shutdown["data"]["reason"] == f"received {signame}"
    log = d.output()
    assert re.search(r"^\S+ \S+ INFO sloth_tui.serve: listening on .*sloth.sock$", log, re.M)
    assert f"received {signame}: stopping" in log and log.rstrip().endswith("stopped")


def test_shutdown_leaves_queued_hooks_to_the_next_start(daemons: Daemons, tmp_path: Path) -> None:
    """SIGTERM starts no queued run (issue 11): those events stay unfinished, and the next
    start runs each of them once."""
    d = daemons().start("--no-monitor")
    slow = tmp_path / "slow.lua"
    slow.write_text(SLOW_HOOK.format(s=0.2))
    added = run_cli(
        "--home", str(d.home), "hook", "add", "slow", "--event", "task.*", "--file", str(slow)
    )
    assert added.returncode == 0, added.stderr
    lines = [{"type": "task.started", "data": {"task_name": f"t{i}"}} for i in range(40)]
    assert all(r["ok"] for r in ask(d.socket, *lines))
    assert d.signal(signal.SIGTERM) == 0
    tasks = events_of(d.home, "task.*")
    assert len(tasks) == 40 and {e["status"] for e in tasks} != {"completed"}
    d.start("--no-monitor")
    wait_for(
        lambda: {e["status"] for e in events_of(d.home, "task.*")} == {"completed"},
        timeout=60,
        what="the next start to run the rest",
    )
    assert db_rows(d.home, "SELECT COUNT(DISTINCT event_id), COUNT(*) FROM executions "
                   "WHERE hook = 'slow'") == [(40, 40)]  # fmt: skip
    assert d.signal(signal.SIGTERM) == 0


def test_the_cli_goes_through_the_daemon(daemons: Daemons, tmp_path: Path) -> None:
    d = daemons().start("--no-monitor")
    home = ["--home", str(d.home)]
    hook = tmp_path / "h.lua"
    hook.write_text("function on_event() log.info('svc ' .. event.data.service) return true end")
    # An embedded engine could not write here: the daemon holds the data dir.
    added = run_cli(*home, "hook", "add", "h", "--event", "deploy.*", "--file", str(hook))
    assert added.returncode == 0 and "added hook h" in added.stdout, added.stderr
    emitted = run_cli(*home, "emit", "deploy.failed", "service=api", "--json")
    assert emitted.returncode == 0, emitted.stderr
    out = json.loads(emitted.stdout)
    assert out["executions"][0]["status"] == "success" and out["event"]["source"] == "cli"
    listed = json.loads(run_cli(*home, "event", "list", "--json", "--type", "deploy.*").stdout)
    assert [e["id"] for e in listed] == [out["id"]]
    hooks = json.loads(run_cli(*home, "hook", "list", "--json").stdout)
    assert hooks[0]["name"] == "h" and hooks[0]["stats"]["runs"] == 1
    tested = run_cli(*home, "hook", "test", "h", "--json")
    assert tested.returncode == 0 and json.loads(tested.stdout)["dry_run"] is True
    assert run_cli(*home, "hook", "disable", "h").returncode == 0
    listed = run_cli(*home, "hook", "list").stdout.splitlines()
    assert any(line.split()[:1] == ["h"] and "false" in line.split() for line in listed), listed
    shown = run_cli(*home, "event", "show", str(out["id"]))
    assert "execution: h success" in shown.stdout
    missing = run_cli(*home, "event", "show", "99999")
    assert missing.returncode == 1 and missing.stderr.strip() == "error: no event with id 99999"
    embedded = run_cli(*home, "--embedded", "hook", "enable", "h")
    assert embedded.returncode == 1 and "another sloth-tui engine is running" in embedded.stderr
    attach = run_cli(*home, "--attach", str(tmp_path / "nothing.sock"), "event", "list")
    assert attach.returncode == 1 and "no sloth-tui daemon answers on" in attach.stderr
    explicit = run_cli("--attach", str(d.socket), "event", "list", "--json")
    assert explicit.returncode == 0 and json.loads(explicit.stdout)
    assert d.signal(signal.SIGTERM) == 0


def test_event_tail_streams_json_lines(daemons: Daemons) -> None:
    d = daemons().start("--no-monitor")
    ask(d.socket, {"type": "deploy.started", "data": {"service": "early"}})
    tail = subprocess.Popen(
        [
            *SLOTH,
            "--home",
            str(d.home),
            "event",
            "tail",
            "-n",
            "5",
            "--count",
            "3",
            "--filter",
            "type:deploy.*",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_for(
            lambda: ask(d.socket, {"op": "stats"})[0]["stats"]["subscribers"] >= 1,
            timeout=15,
            what="tail to subscribe",
        )
        ask(
            d.socket,
            {"type": "task.started", "data": {"task_name": "no"}},
            {"type": "deploy.failed", "data": {"service": "api"}},
            {"type": "deploy.completed", "data": {"service": "api"}},
        )
        out, err = tail.communicate(timeout=15)
    finally:
        tail.kill()
    lines = [json.loads(x) for x in out.splitlines()]
    assert [e["type"] for e in lines] == ["deploy.started", "deploy.failed", "deploy.completed"]
    assert tail.returncode == 0, err
    bad = run_cli("--home", str(d.home), "event", "tail", "--filter", "status:nope")
    assert bad.returncode == 2 and "unknown status" in bad.stderr


def test_event_tail_without_a_daemon_polls_the_store(tmp_path: Path) -> None:
    home = ["--home", str(tmp_path / "h")]
    assert run_cli(*home, "emit", "task.started", "task_name=before").returncode == 0
    tail = subprocess.Popen(
        [*SLOTH, *home, "event", "tail", "--count", "1", "--filter", "type:task.*"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Emit until tail prints one (it exits after --count 1): no guess at when it is ready.
        deadline = time.monotonic() + 30
        n = 0
        while tail.poll() is None:
            assert time.monotonic() < deadline, "event tail printed nothing"
            n += 1
            assert run_cli(*home, "emit", "task.failed", f"task_name=after-{n}").returncode == 0
        out, err = tail.communicate(timeout=15)
    finally:
        tail.kill()
    names = [json.loads(x)["data"]["task_name"] for x in out.splitlines()]
    assert len(names) == 1 and names[0].startswith("after-"), (names, err)  # never `before`
    needs = run_cli(*home, "event", "tail", "--kind", "execution")
    assert needs.returncode == 2 and "need a running" in needs.stderr


def test_tcp_with_token_and_refusals(daemons: Daemons, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("a-long-enough-secret-token\n")
    d = daemons().start("--no-monitor", "--tcp", "127.0.0.1:0", "--token-file", str(token))
    port = int(
        wait_for(
            lambda: re.search(r"listening on tcp 127.0.0.1:(\d+)", d.output()), what="the tcp port"
        ).group(1)
    )

    def tcp(*lines: dict[str, object]) -> list[dict[str, object]]:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"".join(json.dumps(x).encode() + b"\n" for x in lines))
            sock.shutdown(socket.SHUT_WR)
            return [json.loads(x) for x in sock.makefile("rb").read().splitlines()]

    ok = tcp(
        {"op": "auth", "token": "a-long-enough-secret-token"},
        {"type": "task.started", "data": {"task_name": "tcp"}},
    )
    assert ok[0]["ok"] and ok[1]["ok"]
    refused = tcp({"op": "auth", "token": "wrong"}, {"type": "task.started"})
    assert len(refused) == 1 and refused[0]["error_type"] == "unauthorized"
    wait_for(lambda: events_of(d.home, "security.unauthorized"), what="the unauthorized event")
    [event] = events_of(d.home, "security.unauthorized")
    assert event["data"]["ip_address"] == "127.0.0.1" and event["source"] == "socket"

    # The CLI over TCP, from another home: only the TCP port leads to this daemon.
    elsewhere = ["--home", str(tmp_path / "elsewhere"), "--attach", f"tcp://127.0.0.1:{port}"]
    sent = run_cli(*elsewhere, "--token-file", str(token), "emit", "task.completed", "--json")
    assert sent.returncode == 0, sent.stderr
    assert events_of(d.home, "task.completed")[0]["id"] == json.loads(sent.stdout)["id"]
    env = {"SLOTH_TUI_TOKEN_FILE": str(token)}
    listed = run_cli(*elsewhere, "event", "list", "--type", "task.*", "--json", env=env)
    assert {e["type"] for e in json.loads(listed.stdout)} == {"task.started", "task.completed"}
    wrong = tmp_path / "wrong"
    wrong.write_text("not-the-token-at-all\n")
    refused_cli = run_cli(*elsewhere, "--token-file", str(wrong), "event", "list")
    assert refused_cli.returncode == 1 and refused_cli.stdout == ""
    assert refused_cli.stderr.count("\n") == 1 and "token" in refused_cli.stderr
    assert d.signal(signal.SIGTERM) == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tcp", "0.0.0.0:7071", "--token-file", "x"], "only loopback addresses"),
        (["--tcp", "127.0.0.1:7071"], "--tcp needs --token-file"),
        (["--tcp", "127.0.0.1:0", "--token-file", "/nonexistent/token"], "cannot read the token"),
        (["--token-file", "x"], "only used with --tcp"),
    ],
)
def test_serve_refuses_bad_options(tmp_path: Path, args: list[str], message: str) -> None:
    result = run_cli("serve", "--home", str(tmp_path / "h"), "--no-monitor", *args)
    assert result.returncode in (1, 2) and message in result.stderr


def test_a_second_daemon_on_the_same_home_is_refused(daemons: Daemons, tmp_path: Path) -> None:
    d = daemons().start("--no-monitor")
    second = run_cli("serve", "--home", str(d.home), "--socket", str(tmp_path / "other.sock"))
    assert second.returncode == 1
    assert "another sloth-tui engine is running" in second.stderr
    other = tmp_path / "other"
    clash = run_cli("serve", "--home", str(other), "--socket", str(d.socket), "--no-monitor")
    assert clash.returncode == 1 and "already answers on" in clash.stderr
    assert d.signal(signal.SIGTERM) == 0


def test_kill_9_loses_no_acknowledged_event(daemons: Daemons, tmp_path: Path) -> None:
    """Steady socket load, kill -9 mid-stream: every acked event is stored, and the ones
    whose hooks had not run yet are run after the restart."""
    d = daemons().start("--no-monitor")
    hook = tmp_path / "slow.lua"
    hook.write_text(SLOW_HOOK.format(s=0.01))
    added = run_cli(
        "--home", str(d.home), "hook", "add", "slow", "--event", "task.*", "--file", str(hook)
    )
    assert added.returncode == 0, added.stderr
    acked: list[int] = []
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(10)
    sock.connect(str(d.socket))
    reader = sock.makefile("rb")
    killed = False
    try:
        for i in range(100_000):  # bounded; the kill ends it long before
            batch = b"".join(
                json.dumps({"type": "task.started", "data": {"task_name": f"t{i}-{j}"}}).encode()
                + b"\n"
                for j in range(20)
            )
            sock.sendall(batch)
            for _ in range(20):
                line = reader.readline()
                if not line:
                    raise ConnectionResetError
                acked.append(json.loads(line)["id"])
            if len(acked) >= 400 and not killed:
                assert d.proc is not None
                d.proc.kill()  # SIGKILL while the next batches are in flight
                killed = True
    except (ConnectionError, OSError, ValueError):
        pass
    finally:
        sock.close()
    assert killed and d.proc is not None and d.proc.wait(10) == -signal.SIGKILL
    stored = {r[0] for r in db_rows(d.home, "SELECT id FROM events")}
    assert set(acked) <= stored  # nothing acknowledged was lost
    unfinished = db_rows(
        d.home, "SELECT COUNT(*) FROM events WHERE status IN ('pending', 'processing')"
    )[0][0]
    assert unfinished > 0  # the hooks were behind when it died: recovery has work to do
    d.start("--no-monitor")
    wait_for(
        lambda: (
            db_rows(
                d.home,
                "SELECT COUNT(*) FROM events WHERE status IN "
                "('pending', 'processing') AND type = 'task.started'",
            )[0][0]
            == 0
        ),
        timeout=60,
        what="recovery to finish the unfinished events",
    )
    runs = db_rows(d.home, "SELECT event_id, COUNT(*) FROM executions GROUP BY event_id")
    per_event = dict(runs)
    assert all(per_event.get(i) == 1 for i in acked)  # each ran once: none skipped, none twice
    assert d.signal(signal.SIGTERM) == 0


def test_event_tail_survives_a_daemon_restart(daemons: Daemons) -> None:
    d = daemons().start("--no-monitor")
    tail = subprocess.Popen(
        [*SLOTH, "--home", str(d.home), "event", "tail", "--count", "3", "--filter", "type:task.*"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # stderr is read by a thread, so waiting for a line is bounded by wait_for's timeout.
    err_lines: list[str] = []
    assert tail.stderr is not None
    reader = threading.Thread(target=lambda: err_lines.extend(tail.stderr or ()), daemon=True)
    reader.start()
    try:
        wait_for(
            lambda: ask(d.socket, {"op": "stats"})[0]["stats"]["subscribers"] >= 1,
            timeout=15,
            what="tail to subscribe",
        )
        ask(d.socket, {"type": "task.started", "data": {"task_name": "before"}})
        assert d.signal(signal.SIGTERM) == 0
        # Down: this one goes in through an embedded engine and must be backfilled.
        assert (
            run_cli(
                "--home", str(d.home), "emit", "task.started", "task_name=while-down"
            ).returncode
            == 0
        )
        d.start("--no-monitor")
        wait_for(
            lambda: any("reconnected" in line for line in err_lines),
            timeout=30,  # its backoff is at most 2 s; the rest is a loaded CI host's margin
            what="tail to reconnect",
        )
        ask(d.socket, {"type": "task.started", "data": {"task_name": "after"}})
        tail.wait(timeout=15)  # --count 3: it exits after the third event
        out = tail.stdout.read() if tail.stdout else ""
    except (AssertionError, subprocess.TimeoutExpired) as exc:
        # Seen once in CI (3.11), not reproduced: say what the tail and the daemon said.
        raise AssertionError(
            f"{exc}\ntail exit status: {tail.poll()}\ntail stderr:\n{''.join(err_lines)}"
            f"\ndaemon log (end):\n{d.output()[-4000:]}"
        ) from None
    finally:
        tail.kill()
    reader.join(timeout=5)
    err = "".join(err_lines)
    names = [json.loads(x)["data"]["task_name"] for x in out.splitlines()]
    assert names == ["before", "while-down", "after"], err
