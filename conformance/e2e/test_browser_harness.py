"""The browser harness of the console tests (browser.py) proven on tiny
static pages served from 127.0.0.1, with no gateway: Debian's headless
Chromium starts with the profile, language and download settings asked for;
a whole directory reaches an `<input type=file webkitdirectory>` with its
relative paths; axe-core finds a deliberate critical violation and none on a
clean page; CSP violations, console.error() and uncaught exceptions are
read back; downloads land in the download directory; screenshots are PNGs.
And the test issuer's sign-in as a single-page app does it: discovery and
the token endpoint fetched across origins (CORS) under a strict CSP, PKCE
computed with WebCrypto, the user name typed into the issuer's login form.

Skipped only when no Chromium can be found at all (BLOBGATE_CHROMIUM unset
and no /usr/bin/chromium); conformance/browser.sh installs it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

if not os.environ.get("BLOBGATE_CHROMIUM") and not Path("/usr/bin/chromium").exists():
    pytest.skip("no Chromium: BLOBGATE_CHROMIUM unset and /usr/bin/chromium missing "
                "(run conformance/browser.sh)", allow_module_level=True)  # fmt: skip

import browser  # noqa: E402
from oidc_issuer import OidcIssuer  # noqa: E402

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title></head>
<body><main><h1>{title}</h1>{body}</main>{scripts}</body></html>
"""


def page(title: str, body: str, scripts: str = "") -> str:
    return PAGE.format(title=title, body=body, scripts=scripts)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("site")
    (root / "upload.html").write_text(page("Upload", (
        '<label for="dir">Folder</label> <input type="file" id="dir" webkitdirectory multiple>'
        '<ul id="paths"></ul><p id="events"></p>'
    ), '<script src="upload.js"></script>'))  # fmt: skip
    (root / "upload.js").write_text("""
        const input = document.getElementById('dir');
        for (const type of ['input', 'change']) {
            input.addEventListener(type, () => { document.getElementById('events').textContent += type + ' '; });
        }
        input.addEventListener('change', () => {
            const list = document.getElementById('paths');
            for (const f of input.files) {
                const li = document.createElement('li');
                li.textContent = f.webkitRelativePath + ' ' + f.size;
                list.append(li);
            }
        });
    """)
    (root / "clean.html").write_text(page("Clean", '<p>Nothing wrong here.</p><img src="dot.svg" alt="A dot">'))
    (root / "bad.html").write_text(page("Bad", '<p>An image without text:</p><img id="noalt" src="dot.svg">'))
    (root / "dot.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"><circle cx="4" cy="4" r="4"/></svg>')
    (root / "errors.html").write_text(page(
        "Errors", "<p>Scripts misbehave here.</p>",
        '<script>document.title = "inline ran";</script><script src="errors.js"></script>'
    ))  # fmt: skip
    (root / "errors.js").write_text(
        'console.error("boom from errors.js");\n'
        'setTimeout(() => { throw new Error("uncaught kaboom"); }, 0);\n'
        'setTimeout(() => { document.body.dataset.done = "1"; }, 50);\n'
    )
    (root / "download.html").write_text(page("Download", '<a id="get" href="report.csv" download>Report</a>'))
    (root / "report.csv").write_text("a,b\n1,2\n")
    (root / "long.css").write_text("#tall { height: 3000px; }\n")
    (root / "long.html").write_text(page("Long", '<link rel="stylesheet" href="long.css"><div id="tall">tall</div><p>end</p>'))
    (root / "lang.html").write_text(page("Language", '<p id="lang"></p>', '<script src="lang.js"></script>'))
    (root / "lang.js").write_text("document.getElementById('lang').textContent = navigator.languages.join(',');\n")
    return root


@pytest.fixture(scope="module")
def server(site):
    # A CSP like the console's: scripts from the origin only, no inline script.
    with browser.serve_static(site, {"Content-Security-Policy": "default-src 'self'; script-src 'self'"}) as url:
        yield url


@pytest.fixture(scope="module")
def driver(tmp_path_factory):
    browser.ensure_installed()  # axe-core, when conformance/browser.sh has not run yet
    d = browser.chromium(tmp_path_factory.mktemp("downloads"))
    yield d
    d.quit()
    assert not d.profile_dir.exists()


def test_starts_headless_with_the_settings(driver, server):
    driver.get(f"{server}/lang.html")
    assert driver.find_element(By.ID, "lang").text == "en-US"
    assert driver.get_window_size() == {"width": 1280, "height": 900}
    assert driver.execute_script("return navigator.webdriver") is True
    assert driver.capabilities["browserName"] in ("chrome", "chromium")
    assert browser.browser_errors(driver) == []


def test_ui_language(server, tmp_path):
    d = browser.chromium(tmp_path / "dl", lang="de-DE")
    try:
        d.get(f"{server}/lang.html")
        assert d.find_element(By.ID, "lang").text == "de-DE"
    finally:
        d.quit()


def test_upload_directory(driver, server, tmp_path):
    tree = tmp_path / "photos"
    (tree / "2024" / "summer").mkdir(parents=True)
    (tree / "a.txt").write_text("a")
    (tree / "2024" / "b.csv").write_text("bb")
    (tree / "2024" / "summer" / "ü c.bin").write_bytes(b"\0" * 1000)
    driver.get(f"{server}/upload.html")
    browser.upload_directory(driver, driver.find_element(By.ID, "dir"), tree)
    WebDriverWait(driver, 5).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, "#paths li")) == 3)
    got = sorted(li.text for li in driver.find_elements(By.CSS_SELECTOR, "#paths li"))
    assert got == ["photos/2024/b.csv 2", "photos/2024/summer/ü c.bin 1000", "photos/a.txt 1"]
    assert driver.find_element(By.ID, "events").text.split() == ["input", "change"]
    assert driver.find_element(By.ID, "dir").get_attribute("data-blobgate-upload") is None
    assert browser.browser_errors(driver) == []


def test_upload_files(driver, server, tmp_path):
    one = tmp_path / "one.txt"
    one.write_text("1")
    driver.get(f"{server}/upload.html")
    driver.execute_script("document.getElementById('dir').removeAttribute('webkitdirectory')")
    browser.upload_files(driver, driver.find_element(By.ID, "dir"), [one])
    WebDriverWait(driver, 5).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#paths li"))
    # Without webkitdirectory a file has no relative path.
    assert driver.find_element(By.CSS_SELECTOR, "#paths li").get_attribute("textContent") == " 1"


def test_axe_finds_a_critical_violation(driver, server):
    driver.get(f"{server}/bad.html")
    found = browser.axe_violations(driver)
    assert [(v["id"], v["impact"]) for v in found] == [("image-alt", "critical")], found
    assert found[0]["targets"] == ["#noalt"]
    assert "alternative text" in found[0]["help"]
    assert browser.axe_violations(driver, min_impact="critical") == found


def test_axe_clean_page(driver, server):
    driver.get(f"{server}/clean.html")
    assert browser.axe_violations(driver, min_impact="minor") == []


def test_console_errors(driver, server):
    browser.browser_errors(driver)  # drain
    driver.get(f"{server}/errors.html")
    WebDriverWait(driver, 5).until(lambda d: d.execute_script("return document.body.dataset.done === '1'"))
    errors = browser.browser_errors(driver)
    assert driver.title == "Errors"  # the inline script was blocked...
    assert any("Content Security Policy" in e for e in errors), errors  # ...and said so
    assert any('"boom from errors.js"' in e for e in errors), errors
    assert any("Uncaught Error: uncaught kaboom" in e for e in errors), errors
    assert not any("favicon" in e for e in errors)
    assert browser.browser_errors(driver) == []  # read once


def test_download(driver, server):
    target = driver.download_dir / "report.csv"
    target.unlink(missing_ok=True)
    driver.get(f"{server}/download.html")
    driver.find_element(By.ID, "get").click()
    deadline = time.monotonic() + 10
    while not (target.is_file() and target.read_text() == "a,b\n1,2\n") and time.monotonic() < deadline:
        time.sleep(0.05)
    assert target.read_text() == "a,b\n1,2\n"


def test_screenshot(driver, server, tmp_path):
    driver.get(f"{server}/long.html")
    full = browser.screenshot(driver, tmp_path / "full.png")
    window = browser.screenshot(driver, tmp_path / "window.png", full_page=False)

    def size(p: Path) -> tuple[int, int]:
        data = p.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")

    # The document (3000 px of it, at the viewport's width less a scrollbar),
    # and the viewport alone.
    assert 1200 < size(full)[0] <= 1280 and size(full)[1] > 3000, size(full)
    assert 1200 < size(window)[0] <= 1280 and size(window)[1] < 900, size(window)


SPA_JS = """
const params = new URLSearchParams(location.search);
const out = document.getElementById('out');
const redirectUri = location.origin + '/spa.html';
const b64url = buf => btoa(String.fromCharCode(...new Uint8Array(buf)))
    .replace(/\\+/g, '-').replace(/\\//g, '_').replace(/=+$/, '');

async function signIn() {
    const doc = await (await fetch(params.get('issuer') + '/.well-known/openid-configuration')).json();
    const verifier = b64url(crypto.getRandomValues(new Uint8Array(32)));
    const challenge = b64url(await crypto.subtle.digest('SHA-256', new TextEncoder().encode(verifier)));
    sessionStorage.setItem('pkce', JSON.stringify({verifier, token: doc.token_endpoint}));
    const query = new URLSearchParams({response_type: 'code', client_id: 'spa', redirect_uri: redirectUri,
        scope: 'openid profile', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', nonce: 'nn'});
    location.assign(doc.authorization_endpoint + '?' + query);
}

async function finish() {
    const {verifier, token} = JSON.parse(sessionStorage.getItem('pkce'));
    const r = await fetch(token, {method: 'POST', body: new URLSearchParams({grant_type: 'authorization_code',
        code: params.get('code'), redirect_uri: redirectUri, client_id: 'spa', code_verifier: verifier})});
    const body = await r.json();
    const claims = JSON.parse(atob(body.id_token.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    out.textContent = [params.get('state'), claims.sub, claims.nonce, claims.groups.join('+')].join(' ');
}

if (params.get('code')) {
    finish().catch(e => { out.textContent = 'error ' + e; });
} else {
    document.getElementById('login').addEventListener('click', () => signIn().catch(e => { out.textContent = 'error ' + e; }));
}
"""


def test_oidc_sign_in_from_a_single_page_app(driver, tmp_path):
    issuer = OidcIssuer(path="/realms/browser").start()
    try:
        (tmp_path / "spa.html").write_text(page("App", '<button id="login">Sign in</button><p id="out"></p>',
                                                '<script src="spa.js"></script>'))  # fmt: skip
        (tmp_path / "spa.js").write_text(SPA_JS)
        csp = f"default-src 'self'; connect-src 'self' http://127.0.0.1:{issuer.port}"
        with browser.serve_static(tmp_path, {"Content-Security-Policy": csp}) as url:
            issuer.register_client("spa", [f"{url}/spa.html"])
            issuer.login_form = True
            issuer.users["bob"] = {"sub": "bob", "groups": ["statisticians", "visitors"]}
            browser.browser_errors(driver)  # drain
            driver.get(f"{url}/spa.html?issuer={issuer.issuer}")
            driver.find_element(By.ID, "login").click()
            name = WebDriverWait(driver, 5).until(lambda d: d.find_element(By.ID, "username"))
            assert browser.axe_violations(driver) == []  # the issuer's login page
            name.send_keys("bob")
            driver.find_element(By.ID, "sign-in").click()
            WebDriverWait(driver, 5).until(lambda d: d.find_element(By.ID, "out").text)
            assert driver.find_element(By.ID, "out").text == "st bob nn statisticians+visitors"
            assert browser.browser_errors(driver) == []
            assert issuer.token_requests() == 1
    finally:
        issuer.stop()
