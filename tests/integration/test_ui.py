# SPDX-License-Identifier: MIT
"""The dashboard at /ui/ in a real headless Chromium (Debian's chromium, chromium-driver,
python3-selenium) against the built prismd and a real PowerDNS: login and logout, the hosts
list and its search, a record created in the page answering at PowerDNS, the API's
validation errors next to their field, a read-only key seeing no write controls, markup in
a record shown as text, repoint with its dry run, tokens and keys; no console errors.
Screenshots of every page go to <build>/ui-screenshots/."""
import os
import re
import shutil
import tempfile

import pytest
import requests

from prismlib import BUILD, PowerDNS, Prismd, wait_for

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.common.exceptions import WebDriverException  # noqa: E402
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import Select, WebDriverWait  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
KEYS = ("api:\n  keys:\n    - {name: ops, key: adm1n-key, role: admin}\n"
        "    - {name: viewer, key: r3ad-key, role: read}\n"
        "    - {name: editor, key: wr1te-key, role: write}\n")
ADMIN, READ, WRITE = "adm1n-key", "r3ad-key", "wr1te-key"
ZONE = "ui.test."
SHOTS = os.path.join(BUILD, "ui-screenshots")
MARKUP = '<script>window.__pwned=1</script><img src=x onerror="window.__pwned=2">'

if not (os.access(CHROMIUM, os.X_OK) and os.access(CHROMEDRIVER, os.X_OK)):
    pytest.skip("needs Debian's chromium and chromium-driver (scripts/deps.sh)",
                allow_module_level=True)


class Env:
    """One PowerDNS, one prismd and one headless Chromium for the whole module."""

    def __init__(self, workdir):
        self.pdns = PowerDNS().start()
        self.d = Prismd(workdir, pdns=self.pdns, extra_yaml=KEYS +
                        "sync:\n  reconcile_interval: 2\n").start()
        self.base = f"http://127.0.0.1:{self.d.api_port}"
        self.profile = tempfile.mkdtemp(prefix="prism-chromium-")
        opts = Options()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                  "--window-size=1400,1000", f"--user-data-dir={self.profile}",
                  "--no-first-run", "--no-default-browser-check", "--disable-extensions",
                  # loopback only: none of Chromium's own calls home
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--disable-default-apps", "--metrics-recording-only",
                  "--disable-features=Translate,OptimizationHints,MediaRouter,"
                  "AutofillServerCommunication", "--safebrowsing-disable-auto-update"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        self.browser = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        self.browser.set_page_load_timeout(20)
        os.makedirs(SHOTS, exist_ok=True)

    def api(self, method, path, key=ADMIN, **kw):
        return requests.request(method, self.base + path, headers={"X-API-Key": key},
                                timeout=15, **kw)

    def close(self):
        problems = []
        try:
            self.browser.quit()
        except WebDriverException:
            pass
        shutil.rmtree(self.profile, ignore_errors=True)
        if self.d.proc is not None and self.d.proc.poll() is not None:
            problems.append(f"prismd died during the tests (exit {self.d.proc.returncode})")
        rc = self.d.stop()
        if rc != 0:
            problems.append(f"prismd exited with status {rc} on SIGTERM")
        found = self.d.sanitizer_report()
        if found:
            problems.append(f"sanitizer report: {found}\n{self.d.read_log()[-4000:]}")
        self.pdns.cleanup()
        return problems


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    e = Env(tmp_path_factory.mktemp("ui") / "prismd")
    r = e.api("POST", "/api/v1/zones", json={"name": ZONE, "nameservers": ["ns1.ui.test."]})
    assert r.status_code == 201, r.text
    yield e
    problems = e.close()
    if problems:
        pytest.fail("; ".join(problems))


@pytest.fixture
def ui(env):
    """The browser, logged out, with its console log emptied; no console errors after."""
    b = env.browser
    b.get(env.base + "/ui/")
    b.execute_script("sessionStorage.clear()")
    b.refresh()
    b.get_log("browser")
    env.allowed_console = []
    yield env
    errors = [m for m in b.get_log("browser") if m["level"] == "SEVERE" and
              not any(re.search(a, m["message"]) for a in env.allowed_console)]
    assert errors == [], errors


def wait(b, pred, what, timeout=15):
    def step(_):
        try:
            return pred()
        except (WebDriverException, IndexError):
            return False  # read while the page re-rendered: poll again
    try:
        return WebDriverWait(b, timeout, poll_frequency=0.05).until(step)
    except WebDriverException as e:  # TimeoutException
        raise AssertionError(f"timed out waiting for {what}: {e!r}") from None


def find(b, css):
    return b.find_elements(By.CSS_SELECTOR, css)


def text_of(b, css):
    try:
        return " ".join(e.text for e in find(b, css))
    except WebDriverException:
        return ""  # re-rendered while read: the caller polls again


def shot(b, name):
    b.save_screenshot(os.path.join(SHOTS, name + ".png"))


def login(env, key, expect_ok=True):
    b = env.browser
    wait(b, lambda: find(b, "#login-key") and find(b, "#login-key")[0].is_displayed(),
         "the login form")
    find(b, "#login-key")[0].send_keys(key)
    find(b, "#login-submit")[0].click()
    if expect_ok:
        wait(b, lambda: find(b, "#top") and find(b, "#top")[0].is_displayed(), "signed in")


def go(env, hash_, ready_css):
    b = env.browser
    b.execute_script("location.hash = arguments[0]; window.scrollTo(0, 0)", hash_)
    wait(b, lambda: find(b, ready_css), f"{ready_css} on {hash_}")


# ---- served safely ----

def test_headers_and_static_files(env):
    r = requests.get(env.base + "/ui/", timeout=5)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    csp = r.headers["Content-Security-Policy"]
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    # no inline script or style in the page: every script has a src, no style attributes
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", r.text) == []
    assert "<style" not in r.text and "style=" not in r.text
    assert re.search(r"\son[a-z]+=", r.text) is None
    # the page's script never writes markup from data
    js = requests.get(env.base + "/ui/app.js", timeout=5)
    assert js.status_code == 200 and "javascript" in js.headers["Content-Type"]
    assert re.search(r"\.(inner|outer)HTML\b|insertAdjacentHTML|document\.write|eval\(|"
                     r"new Function", js.text) is None
    # the ETag revalidates; /ui redirects; other methods and files are refused
    again = requests.get(env.base + "/ui/app.js", timeout=5,
                         headers={"If-None-Match": js.headers["ETag"]})
    assert again.status_code == 304 and again.content == b""
    r = requests.get(env.base + "/ui", timeout=5, allow_redirects=False)
    assert r.status_code == 308 and r.headers["Location"] == "/ui/"
    assert requests.post(env.base + "/ui/", timeout=5).status_code == 405
    assert requests.get(env.base + "/ui/nothere.js", timeout=5).status_code == 404
    # API answers are never cached or framed
    r = env.api("GET", "/api/v1/hosts")
    assert r.headers["Cache-Control"] == "no-store"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in r.headers["Content-Security-Policy"]
    # the dashboard's requests are counted under one route label
    m = env.api("GET", "/metrics").text
    assert re.search(r'prism_api_requests_total\{route="/ui/",method="GET",status="200"\} '
                     r'[1-9]', m), m


# ---- login ----

def test_login_logout_and_key_handling(ui):
    env = ui
    b = env.browser
    shot(b, "01-login")
    login(env, "wrong-key", expect_ok=False)
    wait(b, lambda: "not valid" in text_of(b, "#login-error"), "the refusal")
    env.allowed_console.append(r"/api/v1/whoami - Failed to load resource.*401")
    assert b.execute_script("return sessionStorage.length") == 0
    find(b, "#login-key")[0].clear()
    login(env, ADMIN)
    wait(b, lambda: find(b, "#overview-stats"), "the overview")
    assert text_of(b, "#who-name") == "ops" and text_of(b, "#who-role") == "admin"
    # the key: in sessionStorage only, never in the URL, no cookie
    assert b.execute_script("return sessionStorage.getItem('prism.apiKey')") == ADMIN
    assert ADMIN not in b.current_url
    assert b.get_cookies() == []
    urls = b.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert any("/api/v1/" in u for u in urls) and not any(ADMIN in u for u in urls), urls
    assert find(b, "#login-key")[0].get_attribute("type") == "password"
    # a reload keeps the session (same tab)
    b.refresh()
    wait(b, lambda: find(b, "#overview-stats"), "the overview after a reload")
    find(b, "#logout")[0].click()
    wait(b, lambda: find(b, "#login-key")[0].is_displayed(), "the login form after logout")
    assert b.execute_script("return sessionStorage.getItem('prism.apiKey')") is None
    assert not find(b, "#top")[0].is_displayed()


def test_overview_shows_hosts_targets_and_audit(ui):
    env = ui
    b = env.browser
    for i in range(3):
        assert env.d.register(f"ov-{i}")["status"] == "success"
    login(env, ADMIN)
    wait(b, lambda: find(b, "#overview-stats"), "the overview")
    total = lambda: env.api("GET", "/api/hosts/stats/summary").json()["total_hosts"]  # noqa: E731
    shown = lambda: int(text_of(b, "#overview-stats .stat .num").split()[0])  # noqa: E731
    # the API counts hosts at most once a second: compare with what it says now
    wait(b, lambda: shown() == total() >= 3, "the host count")
    assert find(b, 'tr[data-target="default"]'), "the target row"
    wait(b, lambda: "zone.create" in text_of(b, "main"), "the audit entry of the zone")
    # it refreshes itself: a new host shows without a reload
    assert env.d.register("ov-late")["status"] == "success"
    before = shown()
    wait(b, lambda: shown() == total() > before, "the refreshed count", timeout=12)
    shot(b, "02-overview")


# ---- hosts ----

def test_hosts_list_search_paging_and_host_page(ui):
    env = ui
    b = env.browser
    for i in range(60):
        assert env.d.register(f"web-{i:02d}")["status"] == "success"
    for i in range(4):
        assert env.d.register(f"db-{i}")["status"] == "success"
    total = env.d.db_query("SELECT count(*) FROM hosts")[0][0]
    login(env, ADMIN)
    go(env, "#/hosts", "#hosts-table tr[data-host]")
    assert len(find(b, "#hosts-table tr[data-host]")) == 50
    nxt = [e for e in find(b, ".pager button") if e.text == "Next"][0]
    assert nxt.is_enabled()
    nxt.click()
    wait(b, lambda: len(find(b, "#hosts-table tr[data-host]")) == total - 50, "page 2")
    assert "No host" not in text_of(b, "#hosts-table")
    # a search nothing matches: the table says so
    go(env, "#/hosts?search=nothing-like-this", "#hosts-table td.empty")
    assert "No host matches." in text_of(b, "#hosts-table td.empty")
    shot(b, "03-hosts")
    # search (any case), from the box
    go(env, "#/hosts", "#host-search")
    box = find(b, "#host-search")[0]
    box.send_keys("DB-")
    find(b, "#host-filter button")[0].click()
    wait(b, lambda: sorted(e.get_attribute("data-host") for e in
                           find(b, "#hosts-table tr[data-host]")) ==
         [f"db-{i}" for i in range(4)], "the search result")
    assert "search=DB-" in b.current_url
    shot(b, "04-hosts-search")
    # status filter: one host offline
    env.d.db_exec("UPDATE hosts SET status = 'offline' WHERE hostname = 'db-2'")
    go(env, "#/hosts?status=offline", "#host-status")
    wait(b, lambda: [e.get_attribute("data-host") for e in
                     find(b, "#hosts-table tr[data-host]")] == ["db-2"], "offline hosts")
    assert Select(find(b, "#host-status")[0]).first_selected_option.text == "offline"
    # the host page: records and their state on the target
    wait_for(lambda: env.api("GET", "/api/v1/hosts/db-1").json()["dns_sync_status"] ==
             "synced", 15, what="db-1 synced")
    go(env, "#/hosts?search=db-1", "#hosts-table tr[data-host='db-1'] a")
    find(b, "#hosts-table tr[data-host='db-1'] a")[0].click()
    wait(b, lambda: "db-1.managed.prism.local." in text_of(b, "main") and
         "synced" in text_of(b, "main"), "the host page")
    assert "Host db-1" in text_of(b, "h1")
    assert find(b, "button.danger"), "an admin sees the delete button"
    shot(b, "05-host")


# ---- zones and records ----

def fill_record(b, name, rtype, content, ttl=""):
    form = find(b, "#record-form")[0]
    for fname, value in (("name", name), ("ttl", ttl), ("content", content)):
        e = form.find_element(By.NAME, fname)
        e.clear()
        if value:
            e.send_keys(value)
    Select(form.find_element(By.NAME, "type")).select_by_value(rtype)
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()


def answers(pdns, name, rtype):
    try:
        return pdns.query(name, rtype)
    except Exception:  # noqa: BLE001 (a timeout)
        return None


def test_record_created_in_the_page_answers_at_powerdns(ui):
    env = ui
    b = env.browser
    login(env, WRITE)
    go(env, "#/zones", "#zones-table tr[data-zone]")
    shot(b, "06-zones")
    find(b, f"#zones-table tr[data-zone='{ZONE}'] a")[0].click()
    wait(b, lambda: find(b, "#record-form"), "the record form")
    # the API's validation error, next to its field
    fill_record(b, "www", "A", "not-an-address")
    env.allowed_console.append(r"/api/v1/zones/ui\.test\./records - Failed to load "
                               r"resource.*422")
    wait(b, lambda: "IPv4" in text_of(b, ".field[data-field=content] .field-error"),
         "the error under Content")
    assert find(b, ".field[data-field=content].invalid")
    assert text_of(b, ".field[data-field=name] .field-error") == ""
    shot(b, "07-zone-validation")
    fill_record(b, "www", "A", "192.0.2.80\n192.0.2.81", ttl="120")
    wait(b, lambda: find(b, "tr[data-record='www.ui.test. A']"), "the new row")
    wait_for(lambda: answers(env.pdns, "www.ui.test.", "A") == ["192.0.2.80", "192.0.2.81"],
             15, what="www.ui.test. at PowerDNS")
    # edit: the row fills the form; one address less
    row = find(b, "tr[data-record='www.ui.test. A']")[0]
    [e for e in row.find_elements(By.TAG_NAME, "button") if e.text == "Edit"][0].click()
    assert find(b, "#record-form")[0].find_element(By.NAME, "content") \
        .get_attribute("value") == "192.0.2.80\n192.0.2.81"
    fill_record(b, "www.ui.test.", "A", "192.0.2.82", ttl="120")
    wait_for(lambda: answers(env.pdns, "www.ui.test.", "A") == ["192.0.2.82"], 15,
             what="the edit at PowerDNS")
    shot(b, "08-zone")
    # delete: armed, then confirmed
    row = find(b, "tr[data-record='www.ui.test. A']")[0]
    d = [e for e in row.find_elements(By.TAG_NAME, "button") if e.text == "Delete"][0]
    d.click()
    assert "Confirm" in d.text
    d.click()
    wait(b, lambda: not find(b, "tr[data-record='www.ui.test. A']"), "the row gone")
    wait_for(lambda: answers(env.pdns, "www.ui.test.", "A") == [], 15,
             what="deleted at PowerDNS")


def test_markup_in_a_record_is_shown_as_text(ui):
    env = ui
    b = env.browser
    r = env.api("POST", f"/api/v1/zones/{ZONE}/records", json={"records": [
        {"name": "xss", "type": "TXT", "content": MARKUP}]})
    assert r.status_code == 200, r.text
    login(env, ADMIN)
    go(env, f"#/zone/{ZONE}", "tr[data-record='xss.ui.test. TXT']")
    cell = find(b, "tr[data-record='xss.ui.test. TXT'] td")[3]
    assert "<script>window.__pwned=1</script>" in cell.text
    assert cell.find_elements(By.TAG_NAME, "script") == []
    assert cell.find_elements(By.TAG_NAME, "img") == []
    assert b.execute_script("return window.__pwned") is None
    assert len(find(b, "script")) == 1  # app.js only
    shot(b, "09-zone-markup")


# ---- roles ----

def test_read_key_sees_no_write_controls(ui):
    env = ui
    b = env.browser
    login(env, READ)
    assert text_of(b, "#who-role") == "read"
    nav = [e.text for e in find(b, "#nav a") if e.is_displayed()]
    assert "Repoint" not in nav and "Tokens and keys" not in nav and "Hosts" in nav
    go(env, f"#/zone/{ZONE}", "#records-table tr[data-record]")
    assert find(b, "#record-form") == []
    assert find(b, "main button.danger") == []
    assert [e.text for e in find(b, "#records-table button") if e.text in ("Edit", "Delete")] \
        == []
    shot(b, "10-read-only-zone")
    go(env, "#/targets", "#targets-table tr[data-target]")
    assert [e.text for e in find(b, "main button")] == []
    go(env, "#/hosts?search=db-1", "#hosts-table tr[data-host='db-1'] a")
    find(b, "#hosts-table tr[data-host='db-1'] a")[0].click()
    wait(b, lambda: "Host db-1" in text_of(b, "h1"), "the host page")
    assert find(b, "main button") == []
    # a page for a higher role says so, without asking the API
    go(env, "#/access", "#view-error")
    assert "admin role" in text_of(b, "#view-error")
    # and the API still refuses what the page does not offer
    r = env.api("DELETE", "/api/v1/hosts/db-1", key=READ)
    assert r.status_code == 403


# ---- targets, repoint ----

def test_targets_pause_resume(ui):
    env = ui
    b = env.browser
    login(env, ADMIN)
    go(env, "#/targets", "#targets-table tr[data-target='default']")
    wait(b, lambda: "2 of 2 zones present" in text_of(b, "[data-cluster='default']"),
         "the zones on each target")

    def click(label):
        row = find(b, "#targets-table tr[data-target='default']")[0]
        [e for e in row.find_elements(By.TAG_NAME, "button") if e.text == label][0].click()
    click("Pause")
    wait(b, lambda: "paused" in text_of(b, "#targets-table tr[data-target='default']"),
         "paused")
    assert env.api("GET", "/api/v1/targets").json()["targets"][0]["state"] == "paused"
    shot(b, "11-targets")
    click("Resume")
    wait(b, lambda: "paused" not in text_of(b, "#targets-table tr[data-target='default']"),
         "resumed")
    click("Resync")
    wait(b, lambda: "pending again" in text_of(b, "#toast"), "the resync answer")


def test_repoint_shows_its_dry_run_first(ui):
    env = ui
    b = env.browser
    r = env.api("POST", f"/api/v1/zones/{ZONE}/records", json={"records": [
        {"name": "app", "type": "A", "content": "192.0.2.50"},
        {"name": "api", "type": "A", "content": "192.0.2.50"}]})
    assert r.status_code == 200, r.text
    wait_for(lambda: answers(env.pdns, "app.ui.test.", "A") == ["192.0.2.50"], 15,
             what="app at PowerDNS")
    login(env, WRITE)
    go(env, "#/repoint", "#repoint-form")
    form = find(b, "#repoint-form")[0]
    form.find_element(By.NAME, "from").send_keys("192.0.2.50")
    form.find_element(By.NAME, "to").send_keys("192.0.2.51")
    form.find_element(By.NAME, "zones").send_keys("ui.test")
    form.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(b, lambda: find(b, "#repoint-apply"), "the dry run")
    assert "2 record sets" in text_of(b, "#repoint-preview h2")
    assert "app.ui.test." in text_of(b, "#repoint-preview")
    # nothing changed yet
    assert answers(env.pdns, "app.ui.test.", "A") == ["192.0.2.50"]
    shot(b, "12-repoint")
    find(b, "#repoint-apply")[0].click()
    wait(b, lambda: "Moved 2" in text_of(b, "#repoint-preview"), "applied")
    wait_for(lambda: answers(env.pdns, "app.ui.test.", "A") == ["192.0.2.51"], 15,
             what="the repoint at PowerDNS")


# ---- tokens and keys ----

def test_tokens_and_keys_secret_shown_once(ui):
    env = ui
    b = env.browser
    login(env, ADMIN)
    go(env, "#/access", "#tokens form")
    tokens = find(b, "#tokens form")[0]
    tokens.find_element(By.NAME, "name").send_keys("rack7")
    tokens.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(b, lambda: find(b, "#tokens #secret code"), "the new token")
    secret = text_of(b, "#tokens #secret code")
    assert re.fullmatch(r"[0-9a-f]{64}", secret)
    assert find(b, "#tokens tr[data-token='rack7']")
    # an agent may use it
    assert env.d.register("tok-host", token=secret)["status"] == "success"
    keys = find(b, "#keys form")[0]
    keys.find_element(By.NAME, "name").send_keys("grafana")
    Select(keys.find_element(By.NAME, "role")).select_by_value("read")
    keys.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait(b, lambda: find(b, "#keys #secret code"), "the new key")
    key = text_of(b, "#keys #secret code")
    assert env.api("GET", "/api/v1/whoami", key=key).json() == {"name": "grafana",
                                                                "role": "read"}
    shot(b, "13-access")
    # a name in use: the API's 409 under the form
    keys = find(b, "#keys form")[0]
    keys.find_element(By.NAME, "name").send_keys("grafana")
    keys.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    env.allowed_console.append(r"/api/v1/keys - Failed to load resource.*409")
    wait(b, lambda: "grafana" in text_of(b, "#keys .form-error"), "the conflict")
    # the secret is gone after a reload of the page (shown once)
    go(env, "#/overview", "#overview-stats")
    go(env, "#/access", "#tokens tr[data-token='rack7']")
    assert find(b, "#secret") == []
    # revoke both
    for css in ("#tokens tr[data-token='rack7'] button", "#keys tr[data-key='grafana'] button"):
        btn = find(b, css)[0]
        btn.click()
        btn.click()
    wait(b, lambda: "revoked" in text_of(b, "#tokens tr[data-token='rack7']") and
         "revoked" in text_of(b, "#keys tr[data-key='grafana']"), "revoked")
    assert env.api("GET", "/api/v1/whoami", key=key).status_code == 401
    go(env, "#/audit", "#audit-table tr")
    wait(b, lambda: "key.revoke" in text_of(b, "#audit-table"), "the audit log")
    shot(b, "14-audit")


# ---- last: PowerDNS goes away ----

@pytest.mark.serial  # 20 s waits for a failure and backoff that take ~10 s alone
def test_overview_says_what_failed_and_why(ui):
    env = ui
    b = env.browser
    login(env, READ)
    wait(b, lambda: "Nothing failed" in text_of(b, "#sync-problems"), "no problem yet")
    env.pdns.stop()
    try:
        assert env.d.register("fail-1")["status"] == "success"
        wait(b, lambda: find(b, "#sync-problems tr[data-problem='fail-1.managed.prism.local. A']")
             and "failed" in text_of(b, "#sync-problems") and
             find(b, "#sync-problems .error-text"), "the failed row and its error", timeout=20)
        wait(b, lambda: find(b, "#overview-stats") and
             text_of(b, "tr[data-target='default']").split()[1] == "backoff",
             "the target in backoff", timeout=20)
        shot(b, "15-overview-failing")
    finally:
        env.pdns.start()
    wait(b, lambda: "Nothing failed" in text_of(b, "#sync-problems"), "recovered", timeout=40)
    wait_for(lambda: answers(env.pdns, "fail-1.managed.prism.local.", "A") == ["127.0.0.1"],
             20, what="fail-1 at PowerDNS after the restart")

