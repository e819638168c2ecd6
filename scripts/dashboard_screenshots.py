"""Screenshots of the Ray dashboard as a user sees it: headless Chromium (driven over the DevTools protocol)
logs in by typing the token into the dashboard's "Authentication Token Required" dialog, then shoots the
Jobs page and one job's page.

    .venv/bin/python scripts/dashboard_screenshots.py <submission id> [--url URL] [--out docs]

The URL and token are what `abs dashboard` prints (AB_RAY_DASHBOARD_URL / AB_RAY_ADDRESS; AB_RAY_AUTH_TOKEN or
the token file `abs serve` keeps). Writes <out>/dashboard_jobs.png and <out>/dashboard_job.png.
"""

from __future__ import annotations

import argparse
import base64
import json
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from websockets.sync.client import ClientConnection, connect

CHROMIUM = "/usr/bin/chromium"
TOKEN_INPUT = 'input[placeholder="Enter your authentication token"]'
SHOW_METADATA_AND_LOG_END = """
[...document.querySelectorAll('a, button')].find(e => e.textContent.trim() === 'Expand')?.click();
for (const box of document.querySelectorAll('*'))
  if (box.scrollHeight > box.clientHeight + 50 && box.innerText.includes('TrainController')
      && box !== document.documentElement && box !== document.body) box.scrollTop = box.scrollHeight;
"""


class Page:
    """One browser tab over the DevTools protocol: call a method, evaluate JavaScript, wait, shoot."""

    def __init__(self, socket: ClientConnection):
        self.socket, self.calls = socket, 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.calls += 1
        self.socket.send(json.dumps({"id": self.calls, "method": method, "params": params}))
        while True:  # events arrive in between; the answer carries our id
            message = json.loads(self.socket.recv())
            if message.get("id") == self.calls:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return dict(message.get("result", {}))

    def evaluate(self, expression: str) -> Any:
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not self._true(expression):
            if time.monotonic() > deadline:
                text = self.evaluate("document.body.innerText")
                raise TimeoutError(f"not true after {timeout:g} s: {expression}\npage text: {text[:2000]}")
            time.sleep(0.5)

    def _true(self, expression: str) -> bool:
        try:
            return bool(self.evaluate(expression))
        except RuntimeError as error:  # the page reloaded under us (the dashboard does, once logged in)
            if "navigated" in str(error) or "context" in str(error):
                return False
            raise

    def screenshot(self, path: Path) -> None:
        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"]))
        print(f"wrote {path}")


def log_in(page: Page, url: str, token: str) -> None:
    """As a user does: open the dashboard, type the token into its dialog, press Enter."""
    page.call("Page.navigate", url=f"{url}/#/jobs")
    page.wait_for(f"!!document.querySelector('{TOKEN_INPUT}')")
    page.evaluate(f"document.querySelector('{TOKEN_INPUT}').focus()")
    page.call("Input.insertText", text=token)
    for kind in ("keyDown", "keyUp"):
        page.call("Input.dispatchKeyEvent", type=kind, key="Enter", code="Enter", windowsVirtualKeyCode=13)
    page.wait_for(f"!document.querySelector('{TOKEN_INPUT}')")


def shoot(url: str, token: str, submission_id: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="ab-chromium-", ignore_cleanup_errors=True) as profile:
        browser = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--remote-debugging-port=0",
             f"--user-data-dir={profile}", "--window-size=1600,1150", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            with connect(_first_tab(Path(profile)), max_size=None) as socket:
                _shoot_pages(Page(socket), url, token, submission_id, out)
        finally:
            browser.terminate()
            browser.wait(timeout=30)


def _shoot_pages(page: Page, url: str, token: str, submission_id: str, out: Path) -> None:
    page.call("Emulation.setDeviceMetricsOverride", width=1600, height=1150, deviceScaleFactor=1,
              mobile=False)  # fmt: skip
    log_in(page, url, token)
    page.wait_for(f"document.body.innerText.includes('{submission_id}')")
    time.sleep(2)  # the table's other columns fill in
    page.screenshot(out / "dashboard_jobs.png")
    page.call("Emulation.setDeviceMetricsOverride", width=1600, height=1200, deviceScaleFactor=1,
              mobile=False)  # fmt: skip
    page.call("Page.navigate", url=f"{url}/#/jobs/{submission_id}")
    page.wait_for("document.body.innerText.includes('ab_job_url')")
    page.wait_for("document.body.innerText.includes('TrainController')")  # the driver's log is in
    page.evaluate(SHOW_METADATA_AND_LOG_END)
    time.sleep(2)
    page.screenshot(out / "dashboard_job.png")


def _first_tab(profile: Path, timeout: float = 30) -> str:
    """The DevTools WebSocket of Chromium's first tab (its port: the DevToolsActivePort file it writes)."""
    port_file, deadline = profile / "DevToolsActivePort", time.monotonic() + timeout
    while not port_file.is_file() or not port_file.read_text().strip():
        if time.monotonic() > deadline:
            raise TimeoutError(f"Chromium wrote no {port_file} in {timeout:g} s")
        time.sleep(0.2)
    port = port_file.read_text().split()[0]
    tabs = httpx.get(f"http://127.0.0.1:{port}/json/list").json()
    return str(next(tab for tab in tabs if tab["type"] == "page")["webSocketDebuggerUrl"])


def main() -> None:
    from cli.dashboard import find_token
    from services.settings import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("submission_id", help="the Ray job whose page to shoot: <job id>-a<attempt>")
    parser.add_argument("--url", help="the dashboard (default: as `abs dashboard`)")
    parser.add_argument("--out", type=Path, default=Path("docs"))
    args = parser.parse_args()
    settings = load_settings()
    token = find_token(settings.ray_auth_token, settings.data_dir)[0]
    shoot((args.url or settings.dashboard_url).rstrip("/"), token, args.submission_id, args.out)


if __name__ == "__main__":
    main()
