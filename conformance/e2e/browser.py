"""Headless Chromium for the web console's browser tests.

Starts Debian's Chromium through its chromedriver with Selenium (never
selenium-manager: the driver and the browser are named explicitly, and
nothing is downloaded), with a throw-away profile, a fixed window size and
UI language, downloads going straight to a directory, and the browser
console kept for inspection. Helpers for what the console tests check:
accessibility with axe-core (`axe_violations`), console errors such as CSP
violations and uncaught exceptions (`browser_errors`), choosing a whole
directory on an `<input type=file webkitdirectory>` (`upload_directory`,
which chromedriver's send_keys cannot do), and full-page screenshots.

Environment (conformance/browser.sh installs and prints these):
  BLOBGATE_CHROMIUM      the browser (default /usr/bin/chromium)
  BLOBGATE_CHROMEDRIVER  its driver (default /usr/bin/chromedriver)
  BLOBGATE_AXE_JS        axe-core's axe.min.js (default
                         ${BLOBGATE_BROWSER_DIR:-/var/tmp/blobgate-browser}/node_modules/axe-core/axe.min.js)
"""

from __future__ import annotations

import base64
import contextlib
import functools
import http.server
import json
import os
import shlex
import shutil
import subprocess
import tempfile
import threading
import uuid
from pathlib import Path
from typing import Iterator

# selenium-manager is never needed (explicit paths below); should anything
# still start it, it must not look anything up on the network.
os.environ.setdefault("SE_OFFLINE", "true")
os.environ.setdefault("SE_AVOID_STATS", "true")

from selenium import webdriver  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.remote.webelement import WebElement  # noqa: E402

WINDOW_SIZE = (1280, 900)
IMPACTS = ("minor", "moderate", "serious", "critical")  # axe-core's, least first

CHROMIUM_FLAGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--disable-features=Translate,OptimizationHints,MediaRouter",
    "--password-store=basic",
]


def chromium_path() -> str:
    return os.environ.get("BLOBGATE_CHROMIUM") or "/usr/bin/chromium"


def chromedriver_path() -> str:
    return os.environ.get("BLOBGATE_CHROMEDRIVER") or "/usr/bin/chromedriver"


def axe_js_path() -> Path:
    env = os.environ.get("BLOBGATE_AXE_JS")
    if env:
        return Path(env)
    cache = Path(os.environ.get("BLOBGATE_BROWSER_DIR") or "/var/tmp/blobgate-browser")
    return cache / "node_modules" / "axe-core" / "axe.min.js"


def ensure_installed() -> None:
    """Run conformance/browser.sh when Chromium, chromedriver or axe-core is
    missing (it installs them: apt-get as root, npm for axe-core) and take
    the paths it prints into os.environ. test-all.sh has done this already."""
    if available() is None and axe_js_path().is_file():
        return
    script = Path(__file__).resolve().parents[1] / "browser.sh"
    out = subprocess.run(["bash", str(script), "install"], check=True, capture_output=True, text=True, timeout=900)
    for line in out.stdout.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        if name.startswith("BLOBGATE_") and value:
            os.environ[name] = shlex.split(value)[0]


def available() -> str | None:
    """None when Chromium and chromedriver are there, else why not (a skip reason)."""
    for what, path in (("chromium", chromium_path()), ("chromedriver", chromedriver_path())):
        if not os.access(path, os.X_OK):
            return f"{what} not found at {path}; run conformance/browser.sh (installs Debian's chromium, chromium-driver)"
    return None


class Chromium(webdriver.Chrome):
    """A webdriver.Chrome whose profile directory goes away on quit()."""

    profile_dir: Path
    download_dir: Path

    def quit(self) -> None:
        try:
            super().quit()
        finally:
            shutil.rmtree(self.profile_dir, ignore_errors=True)


def chromium(download_dir: Path, lang: str = "en-US") -> Chromium:
    """Debian's Chromium, headless, with a fresh profile (removed by quit()),
    a 1280x900 window, the UI language `lang` (navigator.language and
    Accept-Language), downloads saved to `download_dir` without asking, and
    the console's messages kept (see browser_errors)."""
    download_dir = Path(download_dir).resolve()
    download_dir.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="blobgate-chromium-"))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium_path()
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={WINDOW_SIZE[0]},{WINDOW_SIZE[1]}")
    options.add_argument(f"--lang={lang}")
    options.add_experimental_option("prefs", {
        "intl.accept_languages": lang,
        "download.default_directory": str(download_dir),
        "download.prompt_for_download": False,
        "download.directory_upgrade": True,
        "profile.default_content_setting_values.automatic_downloads": 1,
        "safebrowsing.enabled": False,
        "credentials_enable_service": False,
        "profile.password_manager_enabled": False,
    })  # fmt: skip
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    # LANGUAGE decides Chromium's UI locale on Linux (--lang alone may not).
    env = {**os.environ, "LANGUAGE": lang.replace("-", "_")}
    service = Service(executable_path=chromedriver_path(), env=env)  # never selenium-manager
    try:
        driver = Chromium(service=service, options=options)
    except BaseException:
        shutil.rmtree(profile, ignore_errors=True)
        raise
    driver.profile_dir = profile
    driver.download_dir = download_dir
    # Headless Chromium honours the download prefs, but say it to the browser too.
    driver.execute_cdp_cmd("Browser.setDownloadBehavior",
                           {"behavior": "allow", "downloadPath": str(download_dir)})  # fmt: skip
    return driver


# --------------------------------------------------------------------------
# accessibility


@functools.lru_cache(maxsize=4)
def _axe_source(path: Path) -> str:
    if not path.is_file():
        raise FileNotFoundError(f"axe-core not found at {path}; run conformance/browser.sh (npm install axe-core)")
    return path.read_text(encoding="utf-8")


def axe_violations(driver: webdriver.Chrome, min_impact: str = "serious", options: dict | None = None) -> list[dict]:
    """axe-core's violations on the current page of impact `min_impact` or worse
    (default: serious and critical). Each: {"id", "impact", "help", "helpUrl",
    "targets": [CSS selector, ...], "nodes": [{"target", "html", "summary"}]}.
    `options` go to axe.run (e.g. {"rules": {"color-contrast": {"enabled": False}}}).
    The script is injected through WebDriver, which the page's CSP does not govern."""
    if min_impact not in IMPACTS:
        raise ValueError(f"min_impact must be one of {IMPACTS}")
    if not driver.execute_script("return typeof window.axe === 'object'"):
        driver.execute_script(_axe_source(axe_js_path()))
    result = driver.execute_async_script(
        """
        const opts = arguments[0], done = arguments[arguments.length - 1];
        window.axe.run(document, Object.assign({resultTypes: ['violations']}, opts))
            .then(r => done(JSON.stringify({violations: r.violations})))
            .catch(e => done(JSON.stringify({error: String(e && e.stack || e)})));
        """,
        options or {},
    )
    out = json.loads(result)
    if "error" in out:
        raise RuntimeError(f"axe.run failed: {out['error']}")
    floor = IMPACTS.index(min_impact)
    found = []
    for v in out["violations"]:
        if v.get("impact") not in IMPACTS or IMPACTS.index(v["impact"]) < floor:
            continue
        nodes = [{"target": " >>> ".join(map(str, n.get("target", []))), "html": n.get("html", ""),
                  "summary": n.get("failureSummary", "")} for n in v.get("nodes", [])]  # fmt: skip
        found.append({"id": v["id"], "impact": v["impact"], "help": v["help"], "helpUrl": v.get("helpUrl", ""),
                      "targets": [n["target"] for n in nodes], "nodes": nodes})  # fmt: skip
    return found


# --------------------------------------------------------------------------
# the console


def browser_errors(driver: webdriver.Chrome, ignore: tuple[str, ...] = ("/favicon.ico",)) -> list[str]:
    """The SEVERE browser-console entries since the last call (the log is
    drained by reading it): uncaught exceptions ("Uncaught Error: ..."),
    console.error(), CSP violations ("... violates the following Content
    Security Policy directive ..."), failed loads ("Failed to load resource"). Messages naming one of
    `ignore` are left out (by default the favicon the browser asks for)."""
    out = []
    for entry in driver.get_log("browser"):
        if entry.get("level") != "SEVERE":
            continue
        message = entry.get("message", "")
        if any(s in message for s in ignore):
            continue
        out.append(message)
    return out


# --------------------------------------------------------------------------
# files


def upload_directory(driver: webdriver.Chrome, input_element: WebElement, path: Path) -> None:
    """Choose the directory `path` on `input_element`, an
    `<input type=file webkitdirectory>`, as a person picking it would: the
    page gets every file below it with its webkitRelativePath ("DIR/a/b.txt")
    and then the input and change events.

    This goes through the DevTools protocol, not send_keys (which chromedriver
    148 happens to accept for a directory on such an input, but older ones
    refused): DOM.setFileInputFiles with the directory's path, on the element
    found again by a one-off marker attribute (Runtime.evaluate in the top
    document; not for elements inside iframes or shadow roots). Chromium
    walks the directory itself, as its file chooser does."""
    path = Path(path).resolve()
    if not path.is_dir():
        raise NotADirectoryError(str(path))
    marker = f"u{uuid.uuid4().hex}"
    driver.execute_script("arguments[0].setAttribute('data-blobgate-upload', arguments[1])", input_element, marker)
    try:
        found = driver.execute_cdp_cmd(
            "Runtime.evaluate", {"expression": f"document.querySelector('[data-blobgate-upload=\"{marker}\"]')"}
        )
        object_id = found.get("result", {}).get("objectId")
        if not object_id:
            raise RuntimeError("upload_directory: the input is not in the top document (iframe or shadow root?)")
        driver.execute_cdp_cmd("DOM.setFileInputFiles", {"files": [str(path)], "objectId": object_id})
        driver.execute_cdp_cmd("Runtime.releaseObject", {"objectId": object_id})
    finally:
        driver.execute_script("arguments[0].removeAttribute('data-blobgate-upload')", input_element)


def upload_files(driver: webdriver.Chrome, input_element: WebElement, paths: list[Path]) -> None:
    """Choose files on an `<input type=file [multiple]>` (plain send_keys)."""
    input_element.send_keys("\n".join(str(Path(p).resolve()) for p in paths))


def screenshot(driver: webdriver.Chrome, path: Path, full_page: bool = True) -> Path:
    """Save a PNG of the page: the whole document (beyond the viewport) by
    default, else the window."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    params: dict = {"format": "png", "captureBeyondViewport": full_page}
    if full_page:
        # The document's size as the page measures it (reading it forces a
        # layout; the DevTools metrics alone were seen stale, at the
        # viewport's size), and as DevTools reports it.
        js_width, js_height = driver.execute_script(
            "const d = document.documentElement, b = document.body;"
            "return [Math.max(d.scrollWidth, b ? b.scrollWidth : 0),"
            " Math.max(d.scrollHeight, b ? b.scrollHeight : 0)];"
        )
        metrics = driver.execute_cdp_cmd("Page.getLayoutMetrics", {})
        size = metrics.get("cssContentSize") or metrics["contentSize"]
        viewport = metrics.get("cssLayoutViewport") or metrics["layoutViewport"]
        width = max(int(size["width"]), int(viewport["clientWidth"]), int(js_width), 1)
        height = max(int(size["height"]), int(viewport["clientHeight"]), int(js_height), 1)
        params["clip"] = {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}
    data = driver.execute_cdp_cmd("Page.captureScreenshot", params)["data"]
    path.write_bytes(base64.b64decode(data))
    return path


# --------------------------------------------------------------------------
# a static page server for tests of the harness itself


@contextlib.contextmanager
def serve_static(root: Path, headers: dict[str, str] | None = None) -> Iterator[str]:
    """Serve the files under `root` on a free 127.0.0.1 port (with `headers`
    on every answer); yields the base URL, http://127.0.0.1:PORT."""
    extra = dict(headers or {})

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def end_headers(self):
            for name, value in extra.items():
                self.send_header(name, value)
            super().end_headers()

        def log_message(self, *args):  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
