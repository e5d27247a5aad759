"""The URL deny-list for webhooks that projects configure themselves (webhook.yaml).

A project's webhook must not reach this host's loopback, link-local ranges or a cloud
metadata service (SSRF); operators allow exceptions by host or network in settings. Names are
resolved and every address checked, so a DNS name pointing at 127.0.0.1 is refused too.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from urllib.parse import urlsplit

from selfheal.integrations.errors import BlockedUrl

DEFAULT_DENY = (
    "127.0.0.0/8",
    "::1/128",
    "0.0.0.0/8",
    "169.254.0.0/16",  # link-local, incl. 169.254.169.254 (AWS, GCP, Azure metadata)
    "fe80::/10",
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "fd00:ec2::254/128",  # AWS metadata over IPv6
    "::ffff:127.0.0.0/104",
    "::ffff:169.254.0.0/112",
)
DENY_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _networks(values: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(v, strict=False) for v in values]


class UrlGuard:
    def __init__(self, *, deny: Iterable[str] | None = None, allow: Iterable[str] = ()) -> None:
        self._deny = _networks(DEFAULT_DENY if deny is None else deny)
        allow = list(allow)
        self._allow_hosts = {a.lower() for a in allow if not _is_network(a)}
        self._allow_nets = _networks(a for a in allow if _is_network(a))

    def _allowed(self, address: str) -> bool:
        ip = ipaddress.ip_address(address)
        if any(ip in net for net in self._allow_nets):
            return True
        return not any(ip in net for net in self._deny)

    async def check(self, url: str) -> None:
        """Raise BlockedUrl if the URL is not http(s) or reaches a denied address."""
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise BlockedUrl(
                f"only http and https URLs are allowed, not {parts.scheme!r}", field="url"
            )
        host = (parts.hostname or "").lower()
        if not host:
            raise BlockedUrl("the URL has no host", field="url")
        if host in self._allow_hosts:
            return
        if host in DENY_NAMES and not self._allow_nets:
            raise BlockedUrl(f"host {host!r} is on the deny-list", field="url")
        for address in await _resolve(host):
            if not self._allowed(address):
                raise BlockedUrl(
                    f"host {host!r} resolves to a denied address (loopback, link-local or "
                    "metadata); allow it in settings if intended",
                    field="url",
                )


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


async def _resolve(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return []  # unresolvable: the request itself will fail and be recorded
    return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})
