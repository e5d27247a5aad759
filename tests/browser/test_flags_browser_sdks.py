"""Unleash's browser SDK (`unleash-proxy-client`) and OFREP's web provider in Chromium, on a
page served from another origin (another port) than selfheal: CORS must let them in — the
preflight for `Authorization`/`If-None-Match`, `ETag` exposed (issue 12, item 5)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from tests.conftest import require_tool, unavailable
from tests.support import node
from tests.support.browser import CHROMIUM_ARGS
from tests.support.server import Server, free_port, selfheal_up

pytestmark = [pytest.mark.slow, pytest.mark.external]

FEATURES = "/api/admin/projects/default/features"
FLAG = "BrowserFlag"

UNLEASH_PAGE = """<!doctype html><html><body>
<script src="/node_modules/unleash-proxy-client/build/main.min.js"></script>
<script>
window.seen = [];
const client = new unleash.UnleashClient({
  url: "%(api)s/api/frontend", clientKey: "%(token)s", appName: "browser-test",
  refreshInterval: 1, metricsInterval: 0, disableMetrics: true,
});
client.on("ready", () => { window.ready = true; window.seen.push(client.isEnabled("%(flag)s")); });
client.on("update", () => window.seen.push(client.isEnabled("%(flag)s")));
client.on("error", (e) => { window.failure = String(e && (e.message || e.type || e)); });
client.start();
</script></body></html>"""

OFREP_PAGE = """<!doctype html><html><body>
<script type="importmap">{"imports": {
  "@openfeature/core": "/node_modules/@openfeature/core/dist/esm/index.js",
  "@openfeature/web-sdk": "/node_modules/@openfeature/web-sdk/dist/esm/index.js",
  "@openfeature/ofrep-core": "/node_modules/@openfeature/ofrep-core/index.esm.js",
  "@openfeature/ofrep-web-provider": "/node_modules/@openfeature/ofrep-web-provider/index.esm.js"
}}</script>
<script type="module">
import { OpenFeature, ProviderEvents } from "@openfeature/web-sdk";
import { OFREPWebProvider } from "@openfeature/ofrep-web-provider";
window.seen = [];
const provider = new OFREPWebProvider({
  baseUrl: "%(api)s", pollInterval: 1000,
  headers: [["Authorization", "%(token)s"]],
});
const client = OpenFeature.getClient();
client.addHandler(ProviderEvents.ConfigurationChanged,
  () => window.seen.push(client.getBooleanValue("%(flag)s", false)));
OpenFeature.setContext({ targetingKey: "user-1" });
OpenFeature.setProviderAndWait(provider)
  .then(() => { window.ready = true; window.seen.push(client.getBooleanValue("%(flag)s", false)); })
  .catch((e) => { window.failure = String(e); });
</script></body></html>"""


@contextmanager
def static_site(root: Path) -> Iterator[str]:
    """The test page and the SDKs' dist files from another origin (its own port)."""
    handler = functools.partial(_Quiet, directory=str(root))
    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


class _Quiet(SimpleHTTPRequestHandler):
    extensions_map = {**SimpleHTTPRequestHandler.extensions_map, ".js": "text/javascript"}

    def log_message(self, format: str, *args: object) -> None:
        pass


def flip(srv: Server, on: bool) -> None:
    r = httpx.post(
        f"{srv.url}{FEATURES}/{FLAG}/environments/production/{'on' if on else 'off'}",
        headers={"Authorization": srv.admin_token},
    )
    assert r.status_code in (200, 202), r.text


def run_page(srv: Server, site: Path, html: str) -> None:
    chromium = require_tool("chromium")
    sync_api = pytest.importorskip("playwright.sync_api")
    (site / "index.html").write_text(
        html % {"api": srv.url, "token": srv.frontend_token, "flag": FLAG}
    )
    with static_site(site) as origin, sync_api.sync_playwright() as pw:
        assert origin.rsplit(":", 1)[1] != srv.url.rsplit(":", 1)[1]
        browser = pw.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            page.goto(origin + "/index.html")
            page.wait_for_function("window.ready === true || window.failure", timeout=20_000)
            assert page.evaluate("window.failure || null") is None
            seen = page.evaluate("window.seen")
            assert seen and not any(seen), seen  # ready, and the flag read as off
            flip(srv, True)
            page.wait_for_function("window.seen.includes(true)", timeout=20_000)
        finally:
            browser.close()


@pytest.fixture
def sdks() -> Path:
    try:
        return node.ensure(node.BROWSER_CACHE, node.BROWSER_PACKAGES)
    except node.NodeUnavailable as exc:
        unavailable(str(exc))
        raise


@pytest.fixture
def site(tmp_path: Path, sdks: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    (root / "node_modules").symlink_to(sdks / "node_modules")
    return root


@pytest.mark.parametrize(
    "page", [UNLEASH_PAGE, OFREP_PAGE], ids=["unleash-proxy-client", "ofrep-web"]
)
def test_browser_sdk_from_another_origin_reads_and_sees_a_flip(
    tmp_path: Path, site: Path, page: str
) -> None:
    with selfheal_up(tmp_path) as srv:
        r = httpx.post(
            srv.url + FEATURES, json={"name": FLAG}, headers={"Authorization": srv.admin_token}
        )
        assert r.status_code == 201, r.text
        run_page(srv, site, page)
