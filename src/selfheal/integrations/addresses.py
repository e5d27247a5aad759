"""The URL guard for webhooks that projects configure themselves (webhook.yaml).

A project's webhook must not reach this host (loopback, the unspecified address), link-local
ranges or a cloud metadata service (SSRF); operators allow exceptions by host or network in
settings, and may deny private ranges too (allowed by default: an internal Jira is normal).

Every address form that lands on a denied IPv4 address is denied with it: IPv4-mapped
(`::ffff:127.0.0.1`), IPv4-compatible (`::127.0.0.1`), NAT64 (`64:ff9b::7f00:1`), 6to4 and
Teredo. A name is resolved ONCE; `check` returns the address it checked and the request is
sent to that address (`HttpRequest.connect_to`), so a second DNS answer (rebinding) never
decides where the bytes go.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Iterable
from typing import Protocol
from urllib.parse import urlsplit

from selfheal.integrations.errors import BlockedUrl
from selfheal.integrations.transport import TransportFailure

DEFAULT_DENY = (
    "127.0.0.0/8",
    "::1/128",
    "::/128",  # the unspecified address: connecting to it reaches this host
    "0.0.0.0/8",
    "169.254.0.0/16",  # link-local, incl. 169.254.169.254 (AWS, GCP, Azure metadata)
    "fe80::/10",
    "100.100.100.200/32",  # Alibaba Cloud metadata
    "fd00:ec2::254/128",  # AWS metadata over IPv6
)
PRIVATE = (
    "10.0.0.0/8",
    "172.16.0.0/12",
    "192.168.0.0/16",
    "100.64.0.0/10",  # carrier-grade NAT
    "fc00::/7",  # unique local
)
DENY_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal"})

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
_COMPATIBLE = ipaddress.ip_network("::/96")


class Resolver(Protocol):
    async def resolve(self, host: str) -> list[str]:
        """The addresses `host` has now (empty when it does not resolve)."""
        ...


class SystemResolver:
    """getaddrinfo on the running loop."""

    async def resolve(self, host: str) -> list[str]:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
        except OSError:
            return []
        return sorted({str(info[4][0]).split("%", 1)[0] for info in infos})


def _networks(values: Iterable[str]) -> list[Network]:
    return [ipaddress.ip_network(v, strict=False) for v in values]


def embedded_ipv4(ip: Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 form carries (mapped, compatible, NAT64, 6to4, Teredo)."""
    if isinstance(ip, ipaddress.IPv4Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip in _NAT64 or ip in _NAT64_LOCAL or (ip in _COMPATIBLE and int(ip) > 1):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    return None


class UrlGuard:
    def __init__(
        self,
        *,
        deny: Iterable[str] | None = None,
        allow: Iterable[str] = (),
        deny_private: bool = False,
        resolver: Resolver | None = None,
    ) -> None:
        denied = list(DEFAULT_DENY if deny is None else deny)
        if deny_private:
            denied.extend(PRIVATE)
        self._deny = _networks(denied)
        allow = list(allow)
        self._allow_hosts = {a.lower() for a in allow if not _is_network(a)}
        self._allow_nets = _networks(a for a in allow if _is_network(a))
        self._resolver: Resolver = resolver or SystemResolver()

    def allowed(self, address: str) -> bool:
        """True if a request may connect to this address (every form it takes is checked)."""
        ip = ipaddress.ip_address(address)
        forms: list[Address] = [ip]
        inner = embedded_ipv4(ip)
        if inner is not None:
            forms.append(inner)
        if any(form in net for form in forms for net in self._allow_nets):
            return True
        return not any(form in net for form in forms for net in self._deny)

    async def check(self, url: str) -> str | None:
        """Raise BlockedUrl if the URL is not http(s) or reaches a denied address.

        Returns the address the request must connect to (the one that was checked), or None
        when the host is allowed by name in settings (then it is resolved as usual).
        """
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https"):
            raise BlockedUrl(
                f"only http and https URLs are allowed, not {parts.scheme!r}", field="url"
            )
        host = (parts.hostname or "").lower()
        if not host:
            raise BlockedUrl("the URL has no host", field="url")
        if host in self._allow_hosts:
            return None
        if host in DENY_NAMES and not self._allow_nets:
            raise BlockedUrl(f"host {host!r} is on the deny-list", field="url")
        if _is_address(host):
            addresses = [str(ipaddress.ip_address(host))]
        else:
            addresses = await self._resolver.resolve(host)
        if not addresses:
            raise TransportFailure("the host does not resolve")  # retried like a refusal
        for address in addresses:
            if not self.allowed(address):
                raise BlockedUrl(
                    f"host {host!r} resolves to a denied address {address} (this host, "
                    "link-local, metadata or a denied range); allow it in settings if intended",
                    field="url",
                )
        return addresses[0]


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
