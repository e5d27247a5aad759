"""The webhook URL guard: every form of a denied address, DNS rebinding, the pinned connection."""

from __future__ import annotations

import ipaddress

import httpx
import pytest

from selfheal.integrations.addresses import UrlGuard
from selfheal.integrations.errors import BlockedUrl
from selfheal.integrations.transport import HttpRequest, HttpxClient, TransportFailure


class ScriptedResolver:
    """Answers from a list, one answer per call: the second answer can differ (rebinding)."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.calls: list[str] = []

    async def resolve(self, host: str) -> list[str]:
        self.calls.append(host)
        return self.answers.pop(0) if self.answers else []


DENIED = [
    "http://[::]:8080/",  # unspecified IPv6 reaches this host
    "http://0.0.0.0:8080/",
    "http://127.0.0.1/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4-mapped loopback
    "http://[::ffff:0.0.0.0]/",  # IPv4-mapped unspecified
    "http://[::ffff:169.254.169.254]/",  # IPv4-mapped metadata
    "http://[64:ff9b::7f00:1]/",  # NAT64 of 127.0.0.1
    "http://[64:ff9b::a9fe:a9fe]/",  # NAT64 of 169.254.169.254
    "http://[64:ff9b:1::a9fe:a9fe]/",  # local-use NAT64 of the metadata address
    "http://[::127.0.0.1]/",  # IPv4-compatible loopback
    "http://[2002:7f00:1::]/",  # 6to4 of 127.0.0.1
    "http://[::ffff:100.100.100.200]/",  # mapped Alibaba metadata
    "http://[fe80::1]/",
    "http://169.254.169.254/latest/meta-data/",
]


@pytest.mark.parametrize("url", DENIED)
async def test_denied_address_forms(url: str) -> None:
    with pytest.raises(BlockedUrl):
        await UrlGuard(resolver=ScriptedResolver()).check(url)


@pytest.mark.parametrize(
    "url", ["http://10.1.2.3/", "http://192.168.1.5/", "http://[fd12::1]/", "http://93.184.216.34/"]
)
async def test_private_ranges_allowed_by_default(url: str) -> None:
    assert await UrlGuard(resolver=ScriptedResolver()).check(url) is not None


@pytest.mark.parametrize(
    "url",
    [
        "http://10.1.2.3/",
        "http://172.20.0.1/",
        "http://192.168.1.5/",
        "http://[fd12::1]/",
        "http://[::ffff:10.0.0.1]/",
        "http://[64:ff9b::c0a8:105]/",  # NAT64 of 192.168.1.5
    ],
)
async def test_private_ranges_denied_by_setting(url: str) -> None:
    with pytest.raises(BlockedUrl):
        await UrlGuard(deny_private=True, resolver=ScriptedResolver()).check(url)


async def test_a_name_resolving_to_a_mapped_loopback_is_denied() -> None:
    resolver = ScriptedResolver(["93.184.216.34", "::ffff:127.0.0.1"])
    with pytest.raises(BlockedUrl, match="denied address"):
        await UrlGuard(resolver=resolver).check("http://hooks.example.com/x")


async def test_the_checked_address_is_the_one_connected_to() -> None:
    """DNS rebinding: the resolver answers public first and loopback second; only one lookup
    happens and the request is pinned to the public answer."""
    resolver = ScriptedResolver(["93.184.216.34"], ["127.0.0.1"])
    guard = UrlGuard(resolver=resolver)
    pinned = await guard.check("https://hooks.example.com:8443/x")
    assert pinned == "93.184.216.34"
    assert resolver.calls == ["hooks.example.com"]

    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    client = HttpxClient(transport=httpx.MockTransport(handler))
    request = HttpRequest("POST", "https://hooks.example.com:8443/x", {}, connect_to=pinned)
    answer = await client.send(request)
    await client.close()
    assert answer.status == 204
    [sent] = seen
    assert sent.url.host == "93.184.216.34" and sent.url.port == 8443
    assert sent.headers["Host"] == "hooks.example.com:8443"
    assert sent.extensions["sni_hostname"] == "hooks.example.com"
    assert resolver.calls == ["hooks.example.com"]  # nothing resolved the name again


async def test_an_unresolvable_name_is_a_transport_failure_retried_later() -> None:
    with pytest.raises(TransportFailure):
        await UrlGuard(resolver=ScriptedResolver([])).check("http://nowhere.example/")


async def test_allowed_network_lets_a_mapped_form_through() -> None:
    guard = UrlGuard(allow=["127.0.0.1/32"], resolver=ScriptedResolver())
    pinned = await guard.check("http://[::ffff:127.0.0.1]:9/")
    assert pinned is not None
    assert ipaddress.ip_address(pinned) == ipaddress.ip_address("::ffff:127.0.0.1")
