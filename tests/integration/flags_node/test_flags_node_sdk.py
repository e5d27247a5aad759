"""The Node `unleash-client` SDK (npm) against `selfheal up`, unchanged."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.conftest import unavailable
from tests.support import node
from tests.support.server import selfheal_up

pytestmark = pytest.mark.external

SCRIPT = """
const { initialize } = require('unleash-client');
const [url, token, flags] = [process.argv[2], process.argv[3], process.argv[4].split(',')];
const client = initialize({ url: url + '/api/', appName: 'node-sdk-test', environment: 'production',
  refreshInterval: 300, metricsInterval: 0, disableMetrics: true,
  customHeaders: { Authorization: token } });
client.on('error', (e) => { console.error('sdk error', e.message); });
// The SDK emits 'changed' once before its first 'synchronized' (and evaluates nothing yet):
// only a 'changed' after that is the flip.
let synced = false;
const context = { userId: 'u1', remoteAddress: '10.1.2.3', properties: { tier: 'gold' } };
function report(tag) {
  const out = { tag };
  for (const f of flags) {
    out[f] = client.isEnabled(f, context);
    out[f + ':variant'] = client.getVariant(f, context).name;
  }
  console.log(JSON.stringify(out));
}
client.on('synchronized', () => { synced = true; report('synced'); });
client.on('changed', () => {
  if (!synced) { return; }
  report('changed');
  setTimeout(() => process.exit(0), 50);
});
setTimeout(() => { console.error('timeout'); process.exit(2); }, 20000);
"""


def admin(url: str, token: str, method: str, path: str, body: object | None = None) -> None:
    r = httpx.request(method, url + path, json=body, headers={"Authorization": token}, timeout=10)
    assert r.status_code < 300, (path, r.status_code, r.text)


def test_node_unleash_client_sees_flags_and_flip(tmp_path: Path) -> None:
    try:
        cache = node.ensure()
    except node.NodeUnavailable as exc:
        unavailable(str(exc))
    script = cache / "selfheal-node-test.js"
    script.write_text(SCRIPT)
    with selfheal_up(tmp_path) as srv:
        base = "/api/admin/projects/default/features"
        for name in ("kill", "users", "net"):
            admin(srv.url, srv.admin_token, "POST", base, {"name": name, "type": "kill-switch"})
        env = "/environments/production"
        admin(srv.url, srv.admin_token, "POST", f"{base}/kill{env}/strategies", {"name": "default"})
        admin(
            srv.url,
            srv.admin_token,
            "POST",
            f"{base}/users{env}/strategies",
            {
                "name": "userWithId",
                "parameters": {"userIds": "u1,u2"},
                "constraints": [{"contextName": "tier", "operator": "IN", "values": ["gold"]}],
            },
        )
        admin(
            srv.url,
            srv.admin_token,
            "POST",
            f"{base}/net{env}/strategies",
            {"name": "remoteAddress", "parameters": {"IPs": "10.0.0.0/8"}},
        )
        admin(
            srv.url,
            srv.admin_token,
            "PUT",
            f"{base}/users{env}/variants",  # Unleash 8 has no feature-level PUT …/variants
            [{"name": "blue", "weight": 1000, "weightType": "variable", "stickiness": "default"}],
        )
        for name in ("users", "net"):
            admin(srv.url, srv.admin_token, "POST", f"{base}/{name}{env}/on")
        proc = subprocess.Popen(
            [str(node.node_bin(cache)), str(script), srv.url, srv.client_token, "kill,users,net"],
            cwd=cache,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["kill"] is False
        assert first["users"] is True
        assert first["users:variant"] == "blue"
        assert first["net"] is True
        admin(srv.url, srv.admin_token, "POST", f"{base}/kill{env}/on")
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        changed = json.loads(out.strip().splitlines()[-1])
        assert changed["tag"] == "changed"
        assert changed["kill"] is True
