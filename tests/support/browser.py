"""Headless Debian Chromium driven over the Chrome DevTools Protocol, for UI tests.

Only the system's `chromium` is used (never a downloaded browser). The protocol is JSON over
one websocket per page: a command is `{"id", "method", "params"}` and its answer carries the
same id; events (no id) are ignored here.
"""

import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

# Set by CI (.ci/run), where Chromium is installed: there a missing browser fails the test.
REQUIRE_BROWSER_ENV = "SAGA_REQUIRE_BROWSER"
HEADLESS_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1500,1100",
)


def chromium_executable() -> str | None:
    """Debian's `chromium` on PATH, or the executable $CHROMIUM names; None if neither exists."""
    return shutil.which(os.environ.get("CHROMIUM") or "chromium")


def browser_required() -> bool:
    return os.environ.get(REQUIRE_BROWSER_ENV, "") not in ("", "0")


class Page:
    def __init__(self, websocket: ClientConnection) -> None:
        self._websocket = websocket
        self._ids = itertools.count(1)

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        command_id = next(self._ids)
        await self._websocket.send(
            json.dumps({"id": command_id, "method": method, "params": params})
        )
        while True:
            message = json.loads(await self._websocket.recv())
            if message.get("id") != command_id:
                continue  # an event, or the answer to a command given up on
            if "error" in message:
                raise RuntimeError(f"{method} failed: {message['error']}")
            result: dict[str, Any] = message.get("result", {})
            return result

    async def resize(self, width: int, height: int) -> None:
        """The viewport (and so the screenshot) size; the UI lays its tables out to fit it."""
        await self.send(
            "Emulation.setDeviceMetricsOverride",
            width=width,
            height=height,
            deviceScaleFactor=1,
            mobile=False,
        )

    async def navigate(self, url: str) -> None:
        await self.send("Page.enable")
        await self.send("Page.navigate", url=url)

    async def evaluate(self, expression: str) -> Any:
        result = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")

    async def click_link(self, text: str) -> None:
        """Click the first link whose visible text is `text`."""
        found = await self.evaluate(
            "(() => { const link = [...document.querySelectorAll('a')]"
            f".find(a => a.innerText.trim() === {json.dumps(text)});"
            " if (link) link.click(); return Boolean(link); })()"
        )
        if not found:
            raise AssertionError(f"no link {text!r} on the page")

    async def text(self) -> str:
        """The visible text, with that of the page's same-origin frames (the Temporal UI shows a
        workflow's summary and current details, rendered Markdown, in frames of its own)."""
        return str(await self.evaluate(PAGE_TEXT) or "")

    async def wait_for_text(self, condition: Callable[[str], bool], timeout: float = 60.0) -> str:
        """The page's visible text once `condition` holds; the last text in the error if not."""
        deadline = time.monotonic() + timeout
        while True:
            text = await self.text()
            if condition(text):
                return text
            if time.monotonic() > deadline:
                raise AssertionError(f"page never showed what was expected; it showed:\n{text}")
            await asyncio.sleep(0.25)

    async def screenshot(self, path: Path) -> None:
        shot = await self.send("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(shot["data"]))


PAGE_TEXT = """(() => {
  const parts = [document.body ? document.body.innerText : ''];
  for (const frame of document.querySelectorAll('iframe')) {
    const body = frame.contentDocument && frame.contentDocument.body;
    if (body) parts.push(body.innerText);
  }
  return parts.join('\\n');
})()"""


@asynccontextmanager
async def chromium_page(executable: str, timeout: float = 60.0) -> AsyncIterator[Page]:
    """A fresh headless Chromium (own profile, DevTools on a free port) and its first tab."""
    # Chromium's helper processes can still be writing the profile while it is removed: a
    # leftover temporary file must not fail the test.
    with tempfile.TemporaryDirectory(prefix="chromium-", ignore_cleanup_errors=True) as profile:
        process = subprocess.Popen(
            [
                executable,
                *HEADLESS_FLAGS,
                "--remote-debugging-port=0",
                f"--user-data-dir={profile}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stopped with all its helpers
        )
        try:
            port = await _devtools_port(Path(profile), process, timeout)
            websocket_url = await _first_tab(port, timeout)
            async with connect(websocket_url, max_size=None) as websocket:
                yield Page(websocket)
        finally:
            _signal_group(process, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal_group(process, signal.SIGKILL)
                process.wait()


def _signal_group(process: subprocess.Popen[bytes], signum: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):  # the whole group is gone already
        os.killpg(process.pid, signum)


async def _devtools_port(profile: Path, process: subprocess.Popen[bytes], timeout: float) -> int:
    """Chromium writes the port it chose into DevToolsActivePort in its profile."""
    active_port = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while True:
        if active_port.exists():
            first_line = active_port.read_text().splitlines()[:1]
            if first_line and first_line[0].isdigit():
                return int(first_line[0])
        if process.poll() is not None:
            raise RuntimeError(f"chromium exited with {process.returncode} before DevTools was up")
        if time.monotonic() > deadline:
            raise RuntimeError("chromium did not open its DevTools port in time")
        await asyncio.sleep(0.1)


async def _first_tab(port: int, timeout: float) -> str:
    """The DevTools websocket of the browser's first tab, once it is listed."""
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as devtools:
        while True:
            targets = (await devtools.get("/json/list")).json()
            pages = [target for target in targets if target["type"] == "page"]
            if pages:
                return str(pages[0]["webSocketDebuggerUrl"])
            if time.monotonic() > deadline:
                raise RuntimeError("chromium opened no tab in time")
            await asyncio.sleep(0.1)
