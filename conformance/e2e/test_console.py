"""The web console at /-/console/, used as people use it: in a real Chromium
(Debian's, driven by selenium through chromedriver; browser.py), against
the real gateway on loopback, on the suite's backend (fs or Azurite).

The module's gateway has a users file with a scoped user (`alice-key`: only
`home/alice/` of the data bucket), the loopback OIDC issuer
(oidc_issuer.py, authorization code with PKCE) as a provider whose
audience is the console's client id, and the role the console assumes with
its ID tokens (`console-analyst`: people in the `statisticians` group, a
home prefix per person and the team bucket). Every check is on what the
user sees (text on the page, files downloaded, links fetched with curl) or
on what S3 holds afterwards (boto3 as the reference client).

Screenshots of the main screens, English and French, are written to
docs/console/ (the README shows them) each time the module runs.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests
from botocore.exceptions import ClientError
from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as EC
from selenium.webdriver.support.ui import Select, WebDriverWait

import browser
from conftest import (
    REPO_ROOT,
    backend_config,
    delete_bucket_fully,
    make_s3_client,
    start_gateway,
    stop_gateway,
    suite_backend,
)
from e2e_util import random_credentials, unique_bucket_name
from oidc_issuer import OidcIssuer

ACCOUNT = "123456789012"
CLIENT_ID = "blobgate-console"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/console-analyst"
SCREENSHOTS = REPO_ROOT / "docs" / "console"
WAIT = 20.0
XSS_KEY = "<img src=x onerror=window.__xss=1>.txt"


def doc(*statements: dict) -> dict:
    return {"Version": "2012-10-17", "Statement": list(statements)}


def allow(action, resource, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


class Site:
    """The module's issuer, gateway, buckets and browser."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.issuer = OidcIssuer().start()
        self.data = unique_bucket_name("console-data")
        self.team = unique_bucket_name("console-team")
        self.alice_secret = random_credentials()[1]
        users = {
            "users": [{"access_key": "alice-key", "secret_key": self.alice_secret, "policy": doc(
                allow("s3:ListBucket", f"arn:aws:s3:::{self.data}",
                      Condition={"StringLike": {"s3:prefix": ["home/alice/", "home/alice/*"]}}),
                allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], f"arn:aws:s3:::{self.data}/home/alice/*"))}],
            "oidc_providers": [{"issuer": self.issuer.issuer, "audiences": [CLIENT_ID]}],
            "roles": [{"name": "console-analyst",
                       "trust": doc({"Effect": "Allow", "Principal": {"Federated": self.issuer.issuer},
                                     "Action": "sts:AssumeRoleWithWebIdentity", "Condition": {
                                         "ForAnyValue:StringEquals": {f"{self.issuer.name}:groups": "statisticians"}}}),
                       "policy": doc(
                           allow("s3:ListAllMyBuckets", "*"),
                           allow("s3:*", [f"arn:aws:s3:::{self.team}", f"arn:aws:s3:::{self.team}/*"]))}],
        }  # fmt: skip
        (workdir / "users.json").write_text(json.dumps(users))
        (workdir / "sts.key").write_bytes(os.urandom(48))
        self.cfg = backend_config(suite_backend(), workdir)
        self.gw = start_gateway(workdir, [
            "--users", str(workdir / "users.json"), "--sts-key-file", str(workdir / "sts.key"),
            "--console-oidc-issuer", self.issuer.issuer, "--console-oidc-client-id", CLIENT_ID,
            "--console-oidc-role", ROLE, "--console-oidc-name", "Stats ID",
        ], cfg=self.cfg)  # fmt: skip
        self.console = f"{self.gw.endpoint}/-/console/"
        self.issuer.register_client(CLIENT_ID, [self.console])
        self.s3 = make_s3_client(self.gw)
        for b in (self.data, self.team):
            self.s3.create_bucket(Bucket=b)
        for key in ("home/alice/notes.txt", "home/bob/salaries-2025.txt", "shared/codes.csv"):
            self.s3.put_object(Bucket=self.data, Key=key, Body=f"contents of {key}".encode())
        self.downloads = workdir / "downloads"
        self.downloads.mkdir()
        self.driver = browser.chromium(self.downloads)

    def close(self) -> None:
        self.driver.quit()
        for b in (self.data, self.team):
            delete_bucket_fully(self.s3, b)
        stop_gateway(self.gw)
        self.issuer.stop()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    s = Site(tmp_path_factory.mktemp("console"))
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def bucket(site):
    """A bucket of the root user for one test."""
    name = unique_bucket_name("console")
    site.s3.create_bucket(Bucket=name)
    yield name
    delete_bucket_fully(site.s3, name)


class Page:
    """The console in the module's browser: navigation and what it shows."""

    def __init__(self, site: Site):
        self.site = site
        self.d = site.driver

    def wait(self, condition, timeout: float = WAIT):
        # The page redraws as answers arrive: an element found a moment ago may be gone.
        return WebDriverWait(self.d, timeout, ignored_exceptions=(StaleElementReferenceException,)).until(condition)

    def el(self, css: str, timeout: float = WAIT):
        return self.wait(EC.presence_of_element_located((By.CSS_SELECTOR, css)), timeout)

    def visible(self, css: str, timeout: float = WAIT):
        return self.wait(EC.visibility_of_element_located((By.CSS_SELECTOR, css)), timeout)

    def all(self, css: str):
        return self.d.find_elements(By.CSS_SELECTOR, css)

    def text(self) -> str:
        return self.d.execute_script("return document.body ? document.body.innerText : ''")

    def wait_text(self, needle: str, timeout: float = WAIT) -> str:
        try:
            self.wait(lambda d: needle in self.text(), timeout)
        except TimeoutException:
            raise AssertionError(f"{needle!r} never shown; the page says:\n{self.text()}") from None
        return self.text()

    def open(self, hash_route: str = "#/") -> None:
        self.d.get(self.site.console + hash_route)

    def fresh(self, lang: str = "en") -> None:
        """The console's first screen, nobody signed in, in `lang`."""
        self.d.get(self.site.console)
        self.d.execute_script(
            "sessionStorage.clear(); localStorage.setItem('blobgate.console.lang', arguments[0]);", lang
        )
        self.d.get(self.site.console)
        self.el("#accessKeyId")

    def sign_in(self, access: str | None = None, secret: str | None = None) -> None:
        self.fresh()
        self.el("#accessKeyId").send_keys(access or self.site.gw.access_key)
        self.el("#secretAccessKey").send_keys(secret or self.site.gw.secret_key)
        self.el("form.signin button[type=submit]").click()
        self.el("button.secondary[type=button]")  # the header's sign-out

    def go(self, hash_route: str) -> None:
        self.d.execute_script("location.hash = arguments[0]", hash_route)

    def browse(self, bucket: str, prefix: str = "") -> None:
        route = f"#/b/{bucket}" + ("/" + "/".join(requests.utils.quote(p, safe="") for p in prefix.split("/")) if prefix else "")
        self.go(route)
        self.wait(lambda d: d.find_elements(By.CSS_SELECTOR, "#objects") and not d.find_elements(By.CSS_SELECTOR, ".table-wrap[aria-busy]"))

    def rows(self) -> list[str]:
        # Read in one script: the table is redrawn as pages arrive.
        return self.d.execute_script(
            "return Array.from(document.querySelectorAll('#objects tbody td.name'), td => td.innerText.trim())"
        )

    def accept_dialog(self) -> str:
        text = self.visible("dialog[open] #confirm-text").text
        self.el("dialog[open] #confirm-yes").click()
        return text

    def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        browser.screenshot(self.d, SCREENSHOTS / f"{name}.png")

    def assert_accessible(self, screen: str) -> None:
        violations = browser.axe_violations(self.d)
        assert not violations, f"{screen}: serious accessibility violations: {json.dumps(violations, indent=1)}"

    def errors(self) -> list[str]:
        """Script errors and CSP violations (failed requests the test caused are not errors)."""
        return [e for e in browser.browser_errors(self.d) if "Failed to load resource" not in e]


@pytest.fixture
def page(site):
    p = Page(site)
    browser.browser_errors(site.driver)  # drop what earlier tests logged
    yield p
    assert not p.errors(), f"the browser reported errors: {p.errors()}"


def wait_for_file(path: Path, size: int | None = None, timeout: float = WAIT) -> bytes:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and not Path(str(path) + ".crdownload").exists():
            data = path.read_bytes()
            if size is None or len(data) == size:
                return data
        time.sleep(0.1)
    raise AssertionError(f"{path} never downloaded; folder has {os.listdir(path.parent)}")


# --------------------------------------------------------------------------
# the door


def test_assets_are_served_with_a_strict_policy(site):
    r = requests.get(site.console, timeout=10)
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self';" in csp and "unsafe" not in csp
    assert f"connect-src 'self' http://127.0.0.1:{site.issuer.port}" in csp
    assert "frame-ancestors 'none'" in csp
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    # No inline script: every <script> names a file of the console.
    assert re.findall(r"<script[^>]*>", r.text) == ['<script type="module" src="js/app.js">']
    js = requests.get(site.console + "js/app.js", timeout=10)
    assert js.headers["content-type"].startswith("text/javascript") and js.headers["x-content-type-options"] == "nosniff"
    assert requests.get(site.console + "config.json", timeout=10).json()["oidc"]["clientId"] == CLIENT_ID
    assert requests.get(site.console + "nope.js", timeout=10).status_code == 404
    assert requests.put(site.console, timeout=10).status_code == 405


def test_console_can_be_turned_off_and_framed_by_named_origins(tmp_path):
    gw = start_gateway(tmp_path, ["--console", "false"])
    try:
        assert requests.get(f"{gw.endpoint}/-/console/", timeout=10).status_code == 404
    finally:
        stop_gateway(gw)
    (tmp_path / "framed").mkdir()
    gw = start_gateway(tmp_path / "framed", ["--console-frame-ancestors", "https://kubeflow.example.org,'self'"])
    try:
        r = requests.get(f"{gw.endpoint}/-/console/", timeout=10)
        assert "frame-ancestors https://kubeflow.example.org 'self'" in r.headers["content-security-policy"]
        assert "x-frame-options" not in r.headers
    finally:
        stop_gateway(gw)
    bad = subprocess.run(
        [str(site_binary()), "serve", "--listen", "127.0.0.1:0", "--console-frame-ancestors", "https://x.org; script-src *"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert bad.returncode != 0 and "--console-frame-ancestors" in bad.stderr


def site_binary() -> Path:
    from conftest import blobgate_binary

    return blobgate_binary()


# --------------------------------------------------------------------------
# signing in


def test_key_sign_in_says_what_went_wrong_and_keeps_credentials_in_the_tab(site, page):
    page.fresh()
    page.el("#accessKeyId").send_keys(site.gw.access_key)
    page.el("#secretAccessKey").send_keys("not-the-secret")
    page.el("form.signin button[type=submit]").click()
    assert "do not match any account" in page.el("#signin-error").text
    # The access key stays; the secret is typed again.
    assert page.el("#accessKeyId").get_attribute("value") == site.gw.access_key
    page.el("#secretAccessKey").send_keys(site.gw.secret_key)
    page.el("form.signin button[type=submit]").click()
    page.wait_text(f"user/{site.gw.access_key}")
    page.wait_text(site.data)
    storage = page.d.execute_script(
        "return {local: JSON.stringify(localStorage), session: JSON.stringify(sessionStorage), url: location.href, cookies: document.cookie}"
    )
    assert site.gw.secret_key not in storage["local"] + storage["url"] + storage["cookies"]
    assert site.gw.secret_key in storage["session"]  # a reload keeps the tab signed in
    page.d.refresh()
    page.wait_text(site.data)
    page.el("header button.secondary").click()  # sign out
    page.el("#accessKeyId")
    assert page.d.execute_script("return sessionStorage.length") == 0


def test_oidc_sign_in_assumes_the_console_role(site, page):
    site.issuer.login_user = {"sub": "carol", "groups": ["statisticians"], "preferred_username": "carol"}
    page.fresh()
    page.el("#oidc-signin").click()
    page.wait_text("assumed-role/console-analyst/carol")
    # The code and state are gone from the address; the session works.
    assert "code=" not in page.d.current_url and "state=" not in page.d.current_url
    page.wait_text(site.team)
    page.browse(site.team)
    assert page.d.execute_script("return JSON.parse(sessionStorage.getItem('blobgate.console.session')).kind") == "oidc"


def test_oidc_sign_in_without_the_role_says_so(site, page):
    site.issuer.login_user = {"sub": "mallory", "groups": ["visitors"]}
    page.fresh()
    page.el("#oidc-signin").click()
    page.wait_text("may not use this project's console role")
    site.issuer.login_user = None  # the user cancels at the issuer
    page.el("#oidc-signin").click()
    page.wait_text("refused the sign-in")


def test_oidc_issuer_unreachable_is_reported(site, page):
    page.fresh()
    site.issuer.stop()
    try:
        page.el("#oidc-signin").click()
        page.wait_text("cannot be reached")
    finally:
        site.issuer.start()


# --------------------------------------------------------------------------
# buckets, folders, uploads


def test_create_bucket_upload_folder_and_large_file_with_progress(site, page, tmp_path):
    name = unique_bucket_name("console-new")
    page.sign_in()
    page.el("#bucketName").send_keys(name)
    page.el("#bucketName").submit()
    page.wait(lambda d: f"#/b/{name}" in d.current_url)
    try:
        folder = tmp_path / "survey"
        (folder / "2025").mkdir(parents=True)
        (folder / "2025" / "wave-1.csv").write_text("id,answer\n1,yes\n")
        (folder / "readme.txt").write_text("the survey\n")
        page.el("#objects")
        browser.upload_directory(page.d, page.el("#upload-folder"), folder)
        page.wait(lambda d: _keys(site, name) == {"survey/2025/wave-1.csv", "survey/readme.txt"})
        assert site.s3.get_object(Bucket=name, Key="survey/2025/wave-1.csv")["Body"].read() == b"id,answer\n1,yes\n"
        # 100 MiB: multipart, the overall bar moves through intermediate values.
        big = tmp_path / "big.bin"
        chunk = os.urandom(1 << 20)
        digest = hashlib.sha256()
        with big.open("wb") as f:
            for i in range(100):
                block = chunk[i:] + chunk[:i]
                f.write(block)
                digest.update(block)
        page.el("#upload-files").send_keys(str(big))
        seen = set()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            value = page.d.execute_script("const b = document.getElementById('upload-overall'); return b && b.value")
            if value is not None:
                seen.add(int(value))
            if "big.bin" in _keys(site, name):
                break
            time.sleep(0.05)
        assert any(0 < v < 100 for v in seen), f"progress values seen: {sorted(seen)}"
        got = hashlib.sha256()
        for part in site.s3.get_object(Bucket=name, Key="big.bin")["Body"].iter_chunks(1 << 20):
            got.update(part)
        assert got.hexdigest() == digest.hexdigest()
        assert re.search(r"-\d+\"$", site.s3.head_object(Bucket=name, Key="big.bin")["ETag"])  # multipart
        page.wait_text("Uploaded")
        page.wait(lambda d: "big.bin" in Page(site).rows())
        page.screenshot("browse-en")
        page.assert_accessible("browse")
        assert not site.s3.list_multipart_uploads(Bucket=name).get("Uploads")
    finally:
        delete_bucket_fully(site.s3, name)


def _keys(site: Site, bucket: str) -> set[str]:
    out = set()
    for p in site.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        out |= {o["Key"] for o in p.get("Contents", [])}
    return out


def test_cancel_aborts_the_multipart_upload(site, page, bucket, tmp_path):
    page.sign_in()
    page.browse(bucket)
    big = tmp_path / "cancelled.bin"
    with big.open("wb") as f:
        f.truncate(200 << 20)
    page.el("#upload-files").send_keys(str(big))
    page.wait(lambda d: site.s3.list_multipart_uploads(Bucket=bucket).get("Uploads"))
    page.el("#upload-cancel-all").click()
    page.wait_text("Cancelled")
    page.wait(lambda d: not site.s3.list_multipart_uploads(Bucket=bucket).get("Uploads"))
    assert "cancelled.bin" not in _keys(site, bucket)


def test_browse_pages_filters_and_sorts(site, page, bucket):
    keys = [f"item-{i:04d}.txt" for i in range(620)] + ["b-small.txt", "b-large.txt", "folder/inner.txt"]
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda k: site.s3.put_object(Bucket=bucket, Key=k, Body=b"x" * (5000 if "large" in k else 10)), keys))
    page.sign_in()
    page.browse(bucket)
    # One page (100 entries) first; the rest when scrolled to.
    assert len(page.rows()) == 100
    assert "more to load" in page.el("#item-count").text
    page.d.execute_script("document.getElementById('load-more').scrollIntoView()")
    page.wait(lambda d: len(Page(site).rows()) == 623)
    assert page.rows()[0].endswith("folder/")  # folders first
    page.el("#filter").send_keys("b-")
    page.wait(lambda d: sorted(Page(site).rows()) == ["b-large.txt", "b-small.txt"])
    size_header = page.all("#objects thead th button.sort")[1]
    size_header.click()
    assert page.rows() == ["b-small.txt", "b-large.txt"]
    assert page.all("#objects thead th")[2].get_attribute("aria-sort") == "ascending"
    page.all("#objects thead th button.sort")[1].click()
    assert page.rows() == ["b-large.txt", "b-small.txt"]
    assert "4.9\u00a0KiB" in page.text()  # the number and its unit stay together
    page.el("#filter").clear()
    page.el("#filter").send_keys("folder/")
    page.wait(lambda d: Page(site).rows() == ["folder/inner.txt"])


# --------------------------------------------------------------------------
# objects


def test_preview_query_share_download_and_delete(site, page, bucket):
    import pyarrow as pa
    import pyarrow.parquet as pq

    csv = b"region,people\neast,120\nwest,80\nnorth,45\n"
    site.s3.put_object(Bucket=bucket, Key="data/regions.csv", Body=csv, ContentType="text/csv",
                       Metadata={"owner": "team <b>stats</b>"})  # fmt: skip
    buf = io.BytesIO()
    pq.write_table(pa.table({"year": [2024, 2025], "total": [1.5, 2.5]}), buf)
    site.s3.put_object(Bucket=bucket, Key="data/totals.parquet", Body=buf.getvalue())
    page.sign_in()
    page.browse(bucket, "data/")
    page.d.find_element(By.LINK_TEXT, "regions.csv").click()
    page.wait_text("west")
    cells = [c.text for c in page.all(".preview td")]
    assert cells[:6] == ["east", "120", "west", "80", "north", "45"]
    body = page.text()
    assert "text/csv" in body and "team <b>stats</b>" in body and "owner" in body
    page.screenshot("object-en")
    page.assert_accessible("object")
    # S3 Select: the gateway's answer as a table, and as a CSV file.
    sql = page.el("#sql")
    sql.clear()
    sql.send_keys("SELECT s.region FROM S3Object s WHERE CAST(s.people AS INT) > 50")
    page.el("#run-query").click()
    assert page.visible("#query-summary").text.startswith("2 rows")
    assert [c.text for c in page.all(".query-output td")] == ["east", "west"]
    sql.clear()
    sql.send_keys("SELECT nonsense FROM")
    page.el("#run-query").click()
    page.wait(lambda d: Page(site).all(".query-output .error"))
    assert re.search(r"\((Parse|Syntax|Unsupported)\w*:", page.el(".query-output .error").text)
    # Share: a presigned link, fetched by curl with no credentials.
    page.el("#share-hours").clear()
    page.el("#share-hours").send_keys("2")
    page.el("#share-hours").submit()
    link = page.el("#share-link").get_attribute("value")
    assert "X-Amz-Signature=" in link and "X-Amz-Expires=7200" in link
    fetched = subprocess.run(["curl", "-sf", link], capture_output=True, timeout=30)
    assert fetched.returncode == 0 and fetched.stdout == csv
    # Download: a file in the browser's download folder.
    page.el("#download").click()
    assert wait_for_file(site.downloads / "regions.csv", len(csv)) == csv
    # Parquet preview through Select (no Parquet library in the browser).
    page.browse(bucket, "data/")
    page.d.find_element(By.LINK_TEXT, "totals.parquet").click()
    page.wait_text("2025")
    assert [c.text for c in page.all(".preview td")] == ["2024", "1.5", "2025", "2.5"]
    # Delete one object, then a folder by selection, after a confirmation naming the count.
    page.el("#delete-object").click()
    page.accept_dialog()
    page.wait(lambda d: "#/b/" in d.current_url)
    assert "data/totals.parquet" not in _keys(site, bucket)
    for k in ("data/more/a.txt", "data/more/b.txt"):
        site.s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    page.browse(bucket)
    page.el("#objects tbody input[type=checkbox]").click()
    page.el("#delete-selected").click()
    assert page.accept_dialog() == "Delete 3 objects? This cannot be undone."
    page.wait(lambda d: not _keys(site, bucket))


def test_policy_view_shows_gateway_validation(site, page, bucket):
    page.sign_in()
    page.go(f"#/p/{bucket}")
    page.wait_text("This bucket has no policy.")
    box = page.el("#policy")
    box.send_keys('{"Version": "2012-10-17", "Statement": [{"Effect": "Allow"}]}')
    page.el("#save-policy").click()
    page.wait(lambda d: Page(site).all(".error"))
    assert "MalformedPolicy" in page.el(".error").text
    box.clear()
    good = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                                                    "Resource": f"arn:aws:s3:::{bucket}/public/*"}]}  # fmt: skip
    box.send_keys(json.dumps(good))
    page.el("#save-policy").click()
    page.wait_text("Policy saved.")
    assert json.loads(site.s3.get_bucket_policy(Bucket=bucket)["Policy"])["Statement"][0]["Resource"].endswith("/public/*")


# --------------------------------------------------------------------------
# safety, access, languages


def test_keys_and_metadata_render_as_text(site, page, bucket):
    site.s3.put_object(Bucket=bucket, Key=XSS_KEY, Body=b"<script>window.__xss=2</script>",
                       ContentType="text/html", Metadata={"note": "<img src=y onerror=window.__xss=3>"})  # fmt: skip
    page.sign_in()
    page.browse(bucket)
    assert XSS_KEY in page.rows()
    assert not page.all("#objects img")
    page.d.find_element(By.PARTIAL_LINK_TEXT, "onerror").click()
    page.wait_text("<img src=y onerror=window.__xss=3>")
    page.wait_text("<script>window.__xss=2</script>")
    assert page.d.execute_script("return window.__xss") is None


def test_scoped_user_sees_access_denied_politely_and_nothing_else(site, page):
    page.sign_in("alice-key", site.alice_secret)
    page.wait_text("You do not have access to this.")  # ListBuckets
    assert site.data not in page.text() and site.team not in page.text()
    page.el("#openPath").send_keys(f"{site.data}/home/alice/")
    page.el("#openPath").submit()
    page.wait(lambda d: Page(site).rows() == ["notes.txt"])
    page.browse(site.data)
    page.wait_text("You do not have access to this.")
    assert not page.rows() and "bob" not in page.text() and "shared" not in page.text()
    page.go(f"#/o/{site.data}/home/bob/salaries-2025.txt")
    page.wait_text("You do not have access to this.")
    assert "contents of" not in page.text()
    page.screenshot("access-denied-en")


def test_french(site, page, bucket):
    site.s3.put_object(Bucket=bucket, Key="rapport.csv", Body=b"a,b\n1,2\n" * 1000)
    page.sign_in()
    Select(page.el("#language")).select_by_value("fr")
    page.wait_text("Compartiments")
    assert page.d.execute_script("return document.documentElement.lang") == "fr"
    page.screenshot("buckets-fr")
    page.assert_accessible("buckets (fr)")
    page.browse(bucket)
    text = page.wait_text("Téléverser des fichiers")
    assert "7,8\u00a0Kio" in text  # 8000 bytes, French number and unit
    assert re.search(r"\d{1,2} [a-zéû.]+ \d{4}", text), text  # a French date
    page.screenshot("browse-fr")
    page.d.find_element(By.LINK_TEXT, "rapport.csv").click()
    page.wait_text("Interroger en SQL")
    page.screenshot("object-fr")
    Select(page.el("#language")).select_by_value("en")
    page.wait_text("Buckets")


def test_screens_in_english_are_accessible(site, page, bucket):
    page.fresh()
    page.screenshot("sign-in-en")
    page.assert_accessible("sign-in")
    page.sign_in()
    page.wait_text(bucket)
    page.screenshot("buckets-en")
    page.assert_accessible("buckets")


# --------------------------------------------------------------------------
# sessions that end, and the platform around the console

SESSION = "blobgate.console.session"


def _oidc_sign_in(site: Site, page: Page) -> dict:
    site.issuer.login_user = {"sub": "carol", "groups": ["statisticians"], "preferred_username": "carol"}
    page.fresh()
    page.el("#oidc-signin").click()
    page.wait_text("assumed-role/console-analyst/carol")
    return page.d.execute_script("return JSON.parse(sessionStorage.getItem(arguments[0]))", SESSION)


def _expire_in(page: Page, ms: int, keep_refresh: bool = True) -> None:
    """Pretend this tab's credentials end in `ms` (the STS minimum is 15 min)."""
    page.d.execute_script(
        "const s = JSON.parse(sessionStorage.getItem(arguments[0]));"
        "s.expiration = new Date(Date.now() + arguments[1]).toISOString();"
        "if (!arguments[2]) s.refreshToken = null;"
        "sessionStorage.setItem(arguments[0], JSON.stringify(s));",
        SESSION, ms, keep_refresh,
    )  # fmt: skip
    page.d.refresh()


def test_oidc_session_renews_before_expiry_and_ends_at_expiry(site, page):
    first = _oidc_sign_in(site, page)
    assert first["refreshToken"] and first["sessionToken"]
    tokens = site.issuer.token_requests()
    _expire_in(page, 5 * 60 * 1000 + 1500)  # renewal is due 5 min before the end
    page.wait(lambda d: d.execute_script("return JSON.parse(sessionStorage.getItem(arguments[0])).accessKeyId", SESSION)
              != first["accessKeyId"])  # fmt: skip
    assert site.issuer.token_requests() == tokens + 1  # one refresh grant
    page.browse(site.team)  # the new credentials work
    # Without a way to renew, the session ends when its credentials do.
    _expire_in(page, 1500, keep_refresh=False)
    page.wait_text("Your session has expired. Sign in again.")
    assert page.d.execute_script("return sessionStorage.getItem(arguments[0])", SESSION) is None


def test_shared_links_end_with_the_session_that_made_them(site, page, bucket):
    site.s3.put_object(Bucket=site.team, Key="report.txt", Body=b"team report")
    _oidc_sign_in(site, page)
    page.go(f"#/o/{site.team}/report.txt")
    page.el("#share-hours").clear()
    page.el("#share-hours").send_keys("24")
    page.el("#share-hours").submit()
    link = page.el("#share-link").get_attribute("value")
    expires = int(re.search(r"X-Amz-Expires=(\d+)", link).group(1))
    assert expires < 3600  # the session's own end, not 24 h
    assert "ends when your current sign-in session ends" in page.el("#share-capped").text
    assert "X-Amz-Security-Token=" in link
    assert requests.get(link, timeout=10).content == b"team report"


class PrefixProxy:
    """A reverse proxy on loopback serving the gateway under /blobgate, as an
    Istio VirtualService with a prefix rewrite does (Host kept)."""

    PREFIX = "/blobgate"

    def __init__(self, upstream: str):
        import http.server
        import threading

        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def forward(self):
                if not self.path.startswith(proxy.PREFIX + "/"):
                    self.send_error(404)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("connection", "content-length")}
                r = requests.request(self.command, upstream + self.path[len(proxy.PREFIX):], headers=headers,
                                     data=body, allow_redirects=False, timeout=60, stream=True)  # fmt: skip
                data = r.raw.read()
                self.send_response(r.status_code)
                for k, v in r.headers.items():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length", "keep-alive"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)) if self.command != "HEAD" else r.headers.get("Content-Length", "0"))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{self.PREFIX}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_console_works_behind_a_path_prefix(site, page, bucket):
    site.s3.put_object(Bucket=bucket, Key="t/table.csv", Body=b"k,v\na,1\n")
    proxy = PrefixProxy(site.gw.endpoint)
    try:
        page.d.get(f"{proxy.url}/-/console/")
        page.d.execute_script("sessionStorage.clear()")
        page.d.get(f"{proxy.url}/-/console/#/b/{bucket}/t/")
        page.el("#accessKeyId").send_keys(site.gw.access_key)
        page.el("#secretAccessKey").send_keys(site.gw.secret_key)
        page.el("form.signin button[type=submit]").click()
        page.wait(lambda d: Page(site).rows() == ["table.csv"])
        page.d.find_element(By.LINK_TEXT, "table.csv").click()
        page.wait(lambda d: [c.text for c in Page(site).all(".preview td")] == ["a", "1"])
        page.el("#share-hours").submit()
        link = page.el("#share-link").get_attribute("value")
        assert link.startswith(f"{proxy.url}/{bucket}/t/table.csv?")
        assert requests.get(link, timeout=10).content == b"k,v\na,1\n"
    finally:
        proxy.stop()


def test_phone_sized_screen(site, page, bucket):
    site.s3.put_object(Bucket=bucket, Key="a-rather-long-file-name-from-the-survey-team.parquet", Body=b"x" * 2048)
    page.sign_in()
    page.d.set_window_size(390, 844)
    try:
        page.browse(bucket)
        # Nothing wider than the screen: no sideways scrolling of the page.
        assert page.d.execute_script("return document.documentElement.scrollWidth <= window.innerWidth")
        page.screenshot("browse-phone-en")
        page.assert_accessible("browse (phone)")
    finally:
        page.d.set_window_size(1280, 900)


def test_drop_files_to_upload(site, page, bucket):
    page.sign_in()
    page.browse(bucket)
    # What a drop delivers: a DataTransfer with files (made in the page).
    page.d.execute_script(
        "const dt = new DataTransfer();"
        "dt.items.add(new File(['dropped one\\n'], 'one.txt', {type: 'text/plain'}));"
        "dt.items.add(new File(['dropped two\\n'], 'two.txt', {type: 'text/plain'}));"
        "const zone = document.querySelector('.dropzone');"
        "zone.dispatchEvent(new DragEvent('dragover', {dataTransfer: dt, bubbles: true, cancelable: true}));"
        "zone.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));"
    )
    page.wait(lambda d: _keys(site, bucket) == {"one.txt", "two.txt"})
    assert site.s3.get_object(Bucket=bucket, Key="two.txt")["Body"].read() == b"dropped two\n"
    page.wait(lambda d: sorted(Page(site).rows()) == ["one.txt", "two.txt"])


def test_image_preview(site, page, bucket):
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2f6a8"
        "b80000000049454e44ae426082"
    )
    site.s3.put_object(Bucket=bucket, Key="pixel.png", Body=png, ContentType="image/png")
    page.sign_in()
    page.go(f"#/o/{bucket}/pixel.png")
    img = page.el(".preview img")
    page.wait(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img) == 1)
    assert img.get_attribute("alt") == "Preview of pixel.png"


def test_follows_the_browser_language(site, tmp_path):
    driver = browser.chromium(tmp_path, lang="fr-FR")
    try:
        driver.get(site.console)
        WebDriverWait(driver, WAIT).until(lambda d: "Clé d’accès" in d.find_element(By.TAG_NAME, "body").text)
        assert driver.execute_script("return document.documentElement.lang") == "fr"
    finally:
        driver.quit()


def test_keyboard_only_sign_in_and_navigation(site, page, bucket):
    from selenium.webdriver.common.keys import Keys

    page.fresh()
    page.el("#accessKeyId").click()
    active = page.d.switch_to.active_element
    active.send_keys(site.gw.access_key, Keys.TAB)
    page.d.switch_to.active_element.send_keys(site.gw.secret_key, Keys.ENTER)
    page.wait_text(bucket)
    link = page.d.find_element(By.LINK_TEXT, bucket)
    page.d.execute_script("arguments[0].focus()", link)
    page.d.switch_to.active_element.send_keys(Keys.ENTER)
    page.el("#upload-files")
    # The upload buttons are reachable and named.
    label = page.el("label[for=upload-files]")
    assert label.get_attribute("role") == "button" and label.get_attribute("tabindex") == "0"


def test_forged_authorization_responses_are_refused(site, page):
    page.fresh()  # nobody signed in
    tokens = site.issuer.token_requests()
    page.d.get(site.console + "?code=stolen-code&state=forged#/")
    page.wait_text("refused the sign-in")
    assert site.issuer.token_requests() == tokens  # the code was never redeemed
    assert "code=" not in page.d.current_url
    assert page.d.execute_script("return sessionStorage.getItem(arguments[0])", SESSION) is None


def test_a_stored_page_cannot_read_the_signed_in_tab(site, page, bucket):
    """An HTML object opened in the console's tab runs sandboxed, as an
    opaque origin: the credentials in sessionStorage are out of its reach."""
    html = (b"<!doctype html><title>report</title><script>"
            b"try { document.title = sessionStorage.getItem('blobgate.console.session') ? 'LEAKED' : 'empty'; }"
            b" catch (e) { document.title = 'blocked'; }</script>")  # fmt: skip
    site.s3.put_object(Bucket=bucket, Key="report.html", Body=html, ContentType="text/html")
    url = site.s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "report.html"})
    r = requests.get(url, timeout=10)
    assert r.headers["content-security-policy"].startswith("sandbox") and r.headers["x-content-type-options"] == "nosniff"
    page.sign_in()
    page.d.get(url)  # the same tab: a page of this origin would share its sessionStorage
    page.wait(lambda d: d.title in ("blocked", "LEAKED", "empty"))
    assert page.d.title == "blocked"


def test_create_a_folder_and_delete_an_empty_bucket(site, page):
    name = unique_bucket_name("console-del")
    site.s3.create_bucket(Bucket=name)
    try:
        page.sign_in()
        page.browse(name)
        page.el("#folderName").send_keys("reports")
        page.el("#folderName").submit()
        page.wait(lambda d: Page(site).rows() == ["reports/"])
        assert _keys(site, name) == {"reports/"}
        page.go("#/")
        button = page.el(f"button[aria-label='Delete bucket {name}']")
        button.click()
        assert name in page.accept_dialog()
        # Not empty: the gateway's answer, shown.
        page.wait_text("The bucket is not empty")
        site.s3.delete_object(Bucket=name, Key="reports/")
        page.el(f"button[aria-label='Delete bucket {name}']").click()
        page.accept_dialog()
        page.wait(lambda d: name not in Page(site).text())
        with pytest.raises(ClientError):
            site.s3.head_bucket(Bucket=name)
    finally:
        delete_bucket_fully(site.s3, name)
