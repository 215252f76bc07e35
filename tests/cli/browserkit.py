"""A real headless Chromium driven over the Chrome DevTools Protocol (aiohttp's websocket
client, no other dependency), and `sloth-tui web` as a subprocess: shared by
tests/cli/test_web_browser.py and scripts/web_screenshot.py.

The page is textual-serve's: xterm.js draws the terminal on a canvas, so its text is
not in the DOM. A script installed before the page's own runs catches the xterm
Terminal object as textual.js stores it (`this.terminal = new Terminal(...)`) and keeps
it as `window.__slothTerminal`; its public buffer API then gives the rows as text.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path(os.environ.get("SLOTH_TUI_CHROMIUM", "/usr/bin/chromium"))

# Headless, as root in a container, and quiet: without the networking flags Chromium
# keeps calling home (updates, sync, QUIC probes) on a network that is closed.
CHROMIUM_FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--mute-audio",
    "--remote-debugging-port=0",  # the port it chose is written to DevToolsActivePort
)

CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {
  configurable: true,
  set(value) {
    Object.defineProperty(this, "terminal", {
      value, writable: true, configurable: true, enumerable: true,
    });
    if (value && value.buffer && !window.__slothTerminal) window.__slothTerminal = value;
  },
});
"""

# How the page's websockets ended, in `window.__slothSocketCloses`: {code, clean} for each.
# A server that ends the session closes with 1000; a connection lost reads as 1006.
CATCH_SOCKET_CLOSES = """
window.__slothSocketCloses = [];
window.WebSocket = class extends window.WebSocket {
  constructor(...args) {
    super(...args);
    this.addEventListener("close", (e) => {
      window.__slothSocketCloses.push({code: e.code, clean: e.wasClean});
    });
  }
};
"""

READ_ROWS = """
(() => {
  const t = window.__slothTerminal;
  if (!t) return null;
  const b = t.buffer.active, rows = [];
  for (let i = 0; i < t.rows; i++) {
    const line = b.getLine(b.viewportY + i);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows;
})()
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def stop_process(proc: subprocess.Popen[bytes], timeout: float = 15.0) -> int | None:
    """SIGTERM, then SIGKILL after `timeout`: this one process, by its PID."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode


@contextmanager
def web_server(
    sloth: list[str], home: Path, port: int, log: Path, *extra: str, timeout: float = 30.0
) -> Iterator[subprocess.Popen[bytes]]:
    """`sloth-tui --home HOME web --port PORT` until it answers HTTP; stopped at the end."""
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [*sloth, "--home", str(home), "web", "--port", str(port), *extra],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
        )
    try:
        deadline = time.monotonic() + timeout
        while not _answers(port):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"web did not come up:\n{log.read_text(errors='replace')}")
            time.sleep(0.05)
        yield proc
    finally:
        stop_process(proc)


def _answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class Cdp:
    """One DevTools websocket; calls are answered in order (events are skipped)."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self._next = 0

    async def call(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        await self.ws.send_json({"id": ident, "method": method, "params": params})
        while True:
            message = await self.ws.receive_json(timeout=timeout)
            if message.get("id") != ident:
                continue
            if "error" in message:
                raise RuntimeError(f"{method}: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result

    async def evaluate(self, expression: str, await_promise: bool = False) -> Any:
        reply = await self.call(
            "Runtime.evaluate",
            expression=expression,
            returnByValue=True,
            awaitPromise=await_promise,
        )
        return reply.get("result", {}).get("value")

    async def wait_for_value(self, expression: str, timeout: float = 30.0) -> Any:
        """Poll `expression` until its value is truthy (a non-empty list, say); return it.
        AssertionError showing the last value when the deadline passes."""
        deadline = time.monotonic() + timeout
        value = await self.evaluate(expression)
        while not value:
            if time.monotonic() > deadline:
                raise AssertionError(f"{expression} is still {value!r} after {timeout}s")
            await asyncio.sleep(0.1)
            value = await self.evaluate(expression)
        return value

    async def screen_rows(self) -> list[str] | None:
        rows = await self.evaluate(READ_ROWS)
        return rows if isinstance(rows, list) else None

    async def wait_for_rows(
        self, ready: Callable[[list[str]], bool], timeout: float = 60.0
    ) -> list[str]:
        """Poll the terminal's rows until ready(rows); AssertionError showing the last
        rows when the deadline passes."""
        deadline = time.monotonic() + timeout
        rows: list[str] | None = None
        while time.monotonic() < deadline:
            rows = await self.screen_rows()
            if rows and ready(rows):
                return rows
            await asyncio.sleep(0.2)
        shown = "\n".join(rows or ["(no terminal yet)"])
        raise AssertionError(f"the browser's terminal never got there; it shows:\n{shown}")

    async def screenshot(self) -> bytes:
        reply = await self.call("Page.captureScreenshot", format="png")
        return base64.b64decode(reply["data"])


@asynccontextmanager
async def browser_page(
    url: str, width: int = 1280, height: int = 800, timeout: float = 30.0
) -> AsyncIterator[Cdp]:
    """Chromium on a fresh profile, one page at `url` (the terminal catcher installed
    first); the browser is stopped by its PID and the profile removed at the end."""
    profile = Path(tempfile.mkdtemp(prefix="sloth-tui-chromium-"))
    log = open(profile.parent / f"{profile.name}.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [
            str(CHROMIUM),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            "about:blank",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
    )
    try:
        async with aiohttp.ClientSession() as http:
            page_ws = await _page_websocket(http, proc, profile, timeout)
            async with http.ws_connect(page_ws, max_msg_size=0) as ws:
                cdp = Cdp(ws)
                await cdp.call("Page.enable")
                await cdp.call("Runtime.enable")
                await cdp.call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_TERMINAL)
                await cdp.call("Page.addScriptToEvaluateOnNewDocument", source=CATCH_SOCKET_CLOSES)
                await cdp.call(
                    "Emulation.setDeviceMetricsOverride",
                    width=width,
                    height=height,
                    deviceScaleFactor=1,
                    mobile=False,
                )
                await cdp.call("Page.navigate", url=url)
                yield cdp
                with contextlib.suppress(Exception):
                    await cdp.call("Browser.close", timeout=5)
    finally:
        stop_process(proc)  # Chromium ends its own helper processes on SIGTERM
        log.close()
        _remove(profile)
        Path(log.name).unlink(missing_ok=True)


def _remove(folder: Path, timeout: float = 10.0) -> None:
    """rmtree, again while a helper of the stopped browser (its network service) still
    finishes writing into it."""
    deadline = time.monotonic() + timeout
    while folder.exists() and time.monotonic() < deadline:
        shutil.rmtree(folder, ignore_errors=True)
        if folder.exists():
            time.sleep(0.05)


async def _page_websocket(
    http: aiohttp.ClientSession, proc: subprocess.Popen[bytes], profile: Path, timeout: float
) -> str:
    """The page target's DevTools websocket URL, once Chromium has written its port."""
    deadline = time.monotonic() + timeout
    marker = profile / "DevToolsActivePort"
    while True:
        if proc.poll() is not None:
            raise AssertionError(f"chromium exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise AssertionError("chromium did not open its DevTools port")
        text = marker.read_text() if marker.exists() else ""
        if text.count("\n") >= 1:
            port = int(text.splitlines()[0])
            with contextlib.suppress(aiohttp.ClientError):
                async with http.get(f"http://127.0.0.1:{port}/json/list") as reply:
                    targets = await reply.json()
                pages = [t for t in targets if t.get("type") == "page"]
                if pages:
                    url: str = pages[0]["webSocketDebuggerUrl"]
                    return url
        await asyncio.sleep(0.05)
