"""Health and network checks against real loopback targets: an http.server on 127.0.0.1
port 0, real TCP listeners (closed to take a target down), the real resolver, a real
engine storing what the checks dispatch, and a real `serve`. A slow answer is a server
waiting on an event the test sets, timed by a clock the test moves: no real interval
is ever waited, and the only real waits are the short timeouts under test."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sourcekit import DaemonProcess, async_wait_for, events_of, run_cli, wait_for, write_config

from sloth_tui.engine.engine import Engine
from sloth_tui.engine.events import catalog_warnings
from sloth_tui.sources.check_config import CheckSettings, parse_checks
from sloth_tui.sources.check_http import HttpProbeError, _connection, _Watchdog, fetch
from sloth_tui.sources.check_probes import probe
from sloth_tui.sources.checks import CheckRunner, CheckSource

# -- targets -----------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: HttpTarget

    def do_GET(self) -> None:
        srv = self.server
        srv.hits.append(self.path)
        srv.arrived.set()
        if srv.gate is not None and not srv.hold_body:
            srv.gate.wait(20)  # gives up after 20 s: a probe that waits for it gets its 200
        status, body, headers = srv.answers.get(self.path, (srv.status, srv.body, {}))
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        sent = 0
        if srv.gate is not None and srv.hold_body:
            # one byte every 50 ms until the gate opens: never idle long enough for a
            # socket timeout, so only the probe's deadline can end the read
            while sent < len(body) - 1 and not srv.gate.wait(0.05):
                self.wfile.write(body[sent : sent + 1])
                self.wfile.flush()
                sent += 1
        srv.answered.set()  # before the last bytes: no client can have them all before
        self.wfile.write(body[sent:])

    def log_message(self, format: str, *args: Any) -> None:
        pass


class HttpTarget(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.status = 200
        self.body = b"ok"
        self.answers: dict[str, tuple[int, bytes, dict[str, str]]] = {}
        self.gate: threading.Event | None = None  # set: the answer may go
        self.hold_body = False  # with a gate: the headers go, the body trickles until it opens
        self.arrived = threading.Event()
        self.answered = threading.Event()  # the whole answer is going out
        self.hits: list[str] = []

    def url(self, path: str = "/healthz") -> str:
        return f"http://127.0.0.1:{self.server_port}{path}"


@pytest.fixture
def web() -> Iterator[HttpTarget]:
    target = HttpTarget()
    thread = threading.Thread(target=target.serve_forever, daemon=True)
    thread.start()
    yield target
    if target.gate is not None:
        target.gate.set()
    target.shutdown()
    target.server_close()
    thread.join(5)


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then closed)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def check(kind: str, **entry: Any) -> CheckSettings:
    return parse_checks([{"name": "t", "kind": kind, **entry}], "config.toml")[0]


class Timer:
    """A monotonic clock moved by hand; `step` moves it on every reading too."""

    def __init__(self, step: float = 0.0) -> None:
        self.now = 100.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


async def stored(engine: Engine, prefix: tuple[str, ...] = ("health.", "network.")) -> list[Any]:
    events = await engine.query_events(limit=500)
    return sorted((e for e in events if e.type.startswith(prefix)), key=lambda e: e.id)


def types_of(events: list[Any]) -> list[str]:
    return [e.type for e in events]


# -- http ------------------------------------------------------------------------------


async def test_http_pass_and_wrong_status(web: HttpTarget) -> None:
    result = await probe(check("http", url=web.url()), time.monotonic)
    assert result.ok and result.detail == "200 OK" and result.response_ms > 0
    web.status = 503
    result = await probe(check("http", url=web.url()), time.monotonic)
    assert not result.ok
    assert result.error == f"GET {web.url()}: 503 Service Unavailable (expected 200)"
    assert (await probe(check("http", url=web.url(), expect_status=503), time.monotonic)).ok


async def test_http_body_match_is_a_substring_of_the_first_mib(web: HttpTarget) -> None:
    web.body = b'{"status": "starting"}'
    result = await probe(check("http", url=web.url(), body_contains='"ready"'), time.monotonic)
    assert not result.ok
    assert result.error == f"GET {web.url()}: the body does not contain '\"ready\"'"
    web.body = b'{"status": "ready"}'
    assert (await probe(check("http", url=web.url(), body_contains="ready"), time.monotonic)).ok
    web.body = b"x" * (1024 * 1024) + b"ready"  # past the cap: not read
    result = await probe(check("http", url=web.url(), body_contains="ready"), time.monotonic)
    assert not result.ok and "its first MiB does not contain 'ready'" in result.error


async def test_redirects_are_not_followed_unless_asked(web: HttpTarget) -> None:
    web.answers["/old"] = (302, b"", {"Location": "/healthz"})
    result = await probe(check("http", url=web.url("/old")), time.monotonic)
    assert not result.ok
    assert result.error == (
        f"GET {web.url('/old')}: 302 Found to {web.url('/healthz')} (expected 200)"
    )
    assert web.hits == ["/old"]
    followed = check("http", url=web.url("/old"), follow_redirects=True, body_contains="ok")
    assert (await probe(followed, time.monotonic)).ok
    assert web.hits == ["/old", "/old", "/healthz"]
    web.answers["/ftp"] = (301, b"", {"Location": "ftp://127.0.0.1/x"})
    result = await probe(check("http", url=web.url("/ftp"), follow_redirects=True), time.monotonic)
    assert not result.ok and "refused: http(s) URLs only" in result.error
    web.answers["/loop"] = (302, b"", {"Location": "/loop"})
    result = await probe(check("http", url=web.url("/loop"), follow_redirects=True), time.monotonic)
    assert not result.ok and result.error.endswith("more than 5 redirects")


async def test_a_server_that_never_answers_times_out_on_time(web: HttpTarget) -> None:
    web.gate = threading.Event()  # never set during the probe
    started = time.monotonic()
    result = await probe(check("http", url=web.url(), timeout=0.3, slow_ms=0), time.monotonic)
    took = time.monotonic() - started
    assert not result.ok and result.error == f"GET {web.url()}: timed out after 0.3 s"
    assert not web.answered.is_set()  # ended by its deadline, not by the answer
    assert took >= 0.25  # not before it


async def test_a_body_that_stops_coming_times_out_on_time(web: HttpTarget) -> None:
    web.gate, web.hold_body, web.body = threading.Event(), True, b"x" * 1000 + b"ready"
    cfg = check("http", url=web.url(), timeout=0.3, slow_ms=0, body_contains="ready")
    result = await probe(cfg, time.monotonic)
    assert not result.ok and result.error == f"GET {web.url()}: timed out after 0.3 s"
    assert not web.answered.is_set()  # the body was still trickling in (for ~50 s more)


def test_the_blocking_client_itself_ends_at_its_deadline(web: HttpTarget) -> None:
    # without asyncio's timeout around it: the watchdog shuts the socket mid-body
    web.gate, web.hold_body, web.body = threading.Event(), True, b"x" * 1000
    started = time.monotonic()
    with pytest.raises(HttpProbeError, match=r"^timed out after 0.3 s$"):
        fetch(web.url(), timeout=0.3, want_body=True, follow_redirects=False)
    assert not web.answered.is_set()  # mid-body: the trickle had ~50 s to go
    assert time.monotonic() - started >= 0.25  # not before its deadline


async def test_a_slow_answer_is_degraded(web: HttpTarget, engine: Engine) -> None:
    web.gate = threading.Event()
    timer = Timer()
    runner = CheckRunner(
        check("http", url=web.url(), timeout=10, slow_ms=500, service="web"),
        engine.dispatch,
        timer=timer,
    )
    tick = asyncio.create_task(runner.tick())
    await async_wait_for(web.arrived.is_set, what="the request at the server")
    timer.now += 2.0  # the server "took" two seconds ...
    web.gate.set()  # ... and answers now
    result, events = await tick
    assert result.ok and result.response_ms == 2000.0
    assert [t for t, _ in events] == ["health.check_passed", "health.degraded"]
    degraded = (await stored(engine))[-1]
    assert degraded.type == "health.degraded" and degraded.source == "check:t"
    assert degraded.data["metrics"] == "response_time=2000ms"
    assert degraded.data["threshold"] == "response_time=500ms"
    assert degraded.data["service"] == "web" and degraded.warnings == []


async def test_a_closed_port_is_refused_at_once() -> None:
    port = closed_port()
    result = await probe(check("http", url=f"http://127.0.0.1:{port}/"), time.monotonic)
    assert not result.ok and result.error == f"GET http://127.0.0.1:{port}/: connection refused"
    result = await probe(check("tcp", host="127.0.0.1", port=port), time.monotonic)
    assert not result.ok and result.error == f"127.0.0.1:{port}: connection refused"


@pytest.mark.parametrize(
    "cfg",
    [
        {"kind": "tcp", "host": "192.0.2.1", "port": 80},  # TEST-NET-1: routed nowhere
        {"kind": "http", "url": "http://192.0.2.1/healthz"},
    ],
)
async def test_an_unroutable_address_is_a_clear_error_within_its_timeout(
    cfg: dict[str, Any],
) -> None:
    kind = cfg.pop("kind")
    # A hang guard only: past the probe's 0.5 s, the OS's own connect timeout (a minute
    # or more) is all that could end an unanswered connect.
    result = await asyncio.wait_for(
        probe(check(kind, timeout=0.5, slow_ms=0, **cfg), time.monotonic), 30
    )
    assert not result.ok and "192.0.2.1" in result.error
    # timed out, unreachable or refused, as the network here has it: said in words
    assert any(w in result.error for w in ("timed out", "unreachable", "refused")), result.error
    if "timed out" in result.error:  # by its own deadline, not the OS's
        assert "timed out after 0.5 s" in result.error, result.error


# -- tcp -------------------------------------------------------------------------------


async def _listener(port: int = 0) -> asyncio.Server:
    async def hang_up(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    return await asyncio.start_server(hang_up, "127.0.0.1", port, reuse_address=True)


async def test_a_tcp_target_goes_down_and_comes_back(engine: Engine) -> None:
    server = await _listener()
    port = server.sockets[0].getsockname()[1]
    clock = Timer()  # wall clock for the downtime, moved by hand
    runner = CheckRunner(
        check("tcp", host="127.0.0.1", port=port, failures=2, slow_ms=0),
        engine.dispatch,
        clock=clock,
    )
    assert [t for t, _ in (await runner.tick())[1]] == ["health.check_passed"]
    server.close()
    await server.wait_closed()
    clock.now += 5
    first = await runner.tick()
    assert not first[0].ok and first[1] == []  # one failure of the two it takes
    assert [t for t, _ in (await runner.tick())[1]] == ["health.check_failed", "network.down"]
    assert (await runner.tick())[1] == []  # still down: nothing new
    server = await _listener(port)
    try:
        clock.now += 60
        _, back = await runner.tick()
    finally:
        server.close()
    assert [t for t, _ in back] == ["health.recovered", "network.up", "health.check_passed"]
    events = await stored(engine)
    assert types_of(events) == [
        "health.check_passed",
        "health.check_failed",
        "network.down",
        "health.recovered",
        "network.up",
        "health.check_passed",
    ]
    assert all(e.warnings == [] and e.source == "check:t" for e in events)
    failed, down, recovered = events[1], events[2], events[3]
    assert failed.data["consecutive_failures"] == 2
    assert failed.data["error"] == f"127.0.0.1:{port}: connection refused"
    assert down.data["interface"] == f"127.0.0.1:{port}" and down.data["last_successful_ping"]
    # from the first failed probe to the first passing one
    assert recovered.data["downtime_duration"] == "1m0s"


async def test_tcp_latency_high_then_slow(engine: Engine) -> None:
    server = await _listener()
    port = server.sockets[0].getsockname()[1]
    timer = Timer(step=0.3)  # each connect "takes" 300 ms
    runner = CheckRunner(
        check("tcp", host="127.0.0.1", port=port, slow_ms=250), engine.dispatch, timer=timer
    )
    try:
        seen = [[t for t, _ in (await runner.tick())[1]] for _ in range(5)]
    finally:
        server.close()
    assert seen == [
        ["health.check_passed", "health.degraded", "network.latency_high"],
        [],
        ["network.slow"],
        [],
        [],
    ]
    high = next(e for e in await stored(engine) if e.type == "network.latency_high")
    assert high.data["latency"] == "300ms" and high.data["threshold"] == "250ms"
    assert high.data["remote_host"] == "127.0.0.1" and high.warnings == []


# -- dns -------------------------------------------------------------------------------


async def test_dns_resolves_localhost_and_not_an_invalid_name() -> None:
    result = await probe(check("dns", host="localhost"), time.monotonic)
    assert result.ok and ("127.0.0.1" in result.detail or "::1" in result.detail)
    result = await probe(check("dns", host="no-such-host.invalid", timeout=3), time.monotonic)
    assert not result.ok and "no-such-host.invalid" in result.error
    assert result.error.startswith(("cannot resolve no-such-host.invalid", "resolving no-such"))


def test_catalog_fields_hold_for_a_real_failure_record() -> None:
    # the error text of a real refused connect goes into check_failed as a scalar
    data = {"service": "s", "check_name": "c", "error": "x", "consecutive_failures": 1}
    assert catalog_warnings("health.check_failed", data) == []


# -- the source: its loop, driven by hand -----------------------------------------------


class DrivenSleep:
    """Stands in for asyncio.sleep between probes: returns when the test says so."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[None] = asyncio.Queue()
        self.asked: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.asked.append(seconds)
        await self.queue.get()

    def release(self) -> None:
        self.queue.put_nowait(None)


async def test_the_source_probes_at_start_then_each_interval_quietly(engine: Engine) -> None:
    server = await _listener()
    port = server.sockets[0].getsockname()[1]
    sleep = DrivenSleep()
    source = CheckSource(
        check("tcp", host="127.0.0.1", port=port, interval=45, slow_ms=0), sleep=sleep
    )
    try:
        await source.start(engine)
        await async_wait_for(lambda: sleep.asked, what="the first probe")
        assert sleep.asked == [45]
        for n in range(2, 6):
            sleep.release()
            await async_wait_for(lambda n=n: len(sleep.asked) == n, what=f"probe {n}")
        runner = source.runner
        assert runner is not None and runner.state.probes == 5
        assert types_of(await stored(engine)) == ["health.check_passed"]  # once, not five
        health = source.health()
        assert (health.name, health.kind, health.state) == ("check:t", "checks", "running")
        assert health.detail.startswith(f"tcp 127.0.0.1:{port}: up, ")
    finally:
        server.close()
        await source.stop()
    assert source.health().state == "stopped"


async def test_stop_during_a_probe_returns_at_once(web: HttpTarget, engine: Engine) -> None:
    web.gate = threading.Event()  # the server holds its answer
    source = CheckSource(check("http", url=web.url(), timeout=30, slow_ms=0))
    await source.start(engine)
    await async_wait_for(web.arrived.is_set, what="the probe at the server")
    await source.stop()
    assert not web.answered.is_set()  # the server still holds its answer: not waited for
    assert source.health().state == "stopped" and await stored(engine) == []


async def test_a_failing_check_never_stops_the_others(engine: Engine) -> None:
    server = await _listener()
    port = server.sockets[0].getsockname()[1]

    readings = {"n": 0}

    def broken_timer() -> float:  # a bug inside the probe: its second reading of each probe
        readings["n"] += 1
        if readings["n"] % 3 == 2:
            raise RuntimeError("clock on fire")
        return time.monotonic()

    calls = {"n": 0}

    def flaky_clock() -> float:  # breaks the loop's own step (not the probe) once
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("first reading lost")
        return time.time()

    sleeps = {name: DrivenSleep() for name in ("good", "broken", "flaky", "down")}
    sources = [
        CheckSource(
            parse_checks([{"name": "good", "kind": "tcp", "host": "127.0.0.1", "port": port}], "c")[
                0
            ],
            sleep=sleeps["good"],
        ),
        CheckSource(
            parse_checks([{"name": "broken", "kind": "dns", "host": "localhost"}], "c")[0],
            timer=broken_timer,
            sleep=sleeps["broken"],
        ),
        CheckSource(
            parse_checks([{"name": "flaky", "kind": "dns", "host": "localhost"}], "c")[0],
            clock=flaky_clock,
            sleep=sleeps["flaky"],
        ),
        CheckSource(
            parse_checks(
                [{"name": "down", "kind": "tcp", "host": "127.0.0.1", "port": closed_port()}],
                "c",
            )[0],
            sleep=sleeps["down"],
        ),
    ]
    try:
        for source in sources:
            await source.start(engine)
        for _round in range(3):
            await async_wait_for(
                lambda r=_round: all(len(s.asked) == r + 1 for s in sleeps.values()),
                what=f"round {_round + 1} of every check",
            )
            for s in sleeps.values():
                s.release()
        events = await stored(engine)
        by_source = {e.source: [x.type for x in events if x.source == e.source] for e in events}
        assert by_source["check:good"] == ["health.check_passed"]
        assert by_source["check:broken"] == ["health.check_failed"]
        assert by_source["check:down"] == ["health.check_failed", "network.down"]
        # the flaky clock lost its first probe's events, then the check went on
        assert by_source["check:flaky"] == ["health.check_passed"]
        broken = next(e for e in events if e.source == "check:broken")
        assert broken.data["error"] == "probe error: RuntimeError: clock on fire"
        assert all(s.health().state == "running" for s in sources)
    finally:
        server.close()
        for source in sources:
            await source.stop()


# -- in serve ---------------------------------------------------------------------------

_SERVE_CONFIG = """
[monitor]
enabled = false

[[checks]]
name = "db"
kind = "tcp"
host = "127.0.0.1"
port = {port}
interval = 0.2
timeout = 1

[[checks]]
name = "resolver"
kind = "dns"
host = "localhost"
interval = 600
"""


def test_serve_runs_the_checks(daemons: Any, tmp_path: Path) -> None:
    daemon: DaemonProcess = daemons(tmp_path / "home")
    write_config(daemon.home, _SERVE_CONFIG.format(port=closed_port()))
    daemon.start()
    wait_for(lambda: events_of(daemon.home, "network.down"), what="network.down from serve")
    wait_for(lambda: events_of(daemon.home, "health.check_passed"), what="the dns check")
    failed = events_of(daemon.home, "health.check_failed")
    assert [e["source"] for e in failed] == ["check:db"]
    assert failed[0]["data"]["error"].endswith("connection refused")
    passed = events_of(daemon.home, "health.check_passed")
    assert [e["data"]["check_name"] for e in passed] == ["resolver"]
    daemon.signal(2)
    assert len(events_of(daemon.home, "health.check_failed")) == 1  # never repeated
    assert "Traceback" not in daemon.output()


def test_serve_refuses_a_bad_check_in_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    write_config(home, '[[checks]]\nname = "db"\nkind = "tcp"\nhost = "127.0.0.1"\nport = 0\n')
    done = run_cli("serve", "--home", str(home), timeout=30)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert lines[-1].startswith("error: ") and "[[checks]] entry 1 (db): port = 0" in lines[-1]
    assert "Traceback" not in done.stderr


def test_an_ipv6_url_without_a_port_goes_to_port_80() -> None:
    watch = _Watchdog(5)
    try:
        for url, port in (
            ("http://[::1]/x", 80),
            ("https://[::1]/", 443),
            ("http://[::1]:81/", 81),
        ):
            conn = _connection(urllib.parse.urlsplit(url), watch, 1.0)
            assert (conn.host, conn.port) == ("::1", port)
    finally:
        watch.cancel()


async def test_a_tcp_check_on_ipv6_loopback() -> None:
    try:
        server = await asyncio.start_server(lambda _r, w: w.close(), "::1", 0)
    except OSError:
        pytest.skip("no IPv6 loopback here")
    port = server.sockets[0].getsockname()[1]
    try:
        cfg = check("tcp", host="::1", port=port)
        result = await probe(cfg, time.monotonic)
    finally:
        server.close()
    assert cfg.target == f"[::1]:{port}" and result.ok and result.detail == "connected to ::1"


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


async def test_https_with_an_untrusted_certificate_is_a_tls_error(tmp_path: Path) -> None:
    import ssl

    cert_file, key_file = _self_signed(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)

    async def answer(_r: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=context)
    port = server.sockets[0].getsockname()[1]
    try:
        result = await probe(check("http", url=f"https://127.0.0.1:{port}/"), time.monotonic)
    finally:
        server.close()
    assert not result.ok
    assert result.error.startswith(f"GET https://127.0.0.1:{port}/: TLS error: CERTIFICATE_VERIFY")
