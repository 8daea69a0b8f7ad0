"""Outbound requests stay home: one guard for every request the service sends.

Three rules, each usable on its own (providers.http applies them to adapters; webhooks can
use the same calls):

- **Addresses.** `guarded_session()` checks the address each connection actually goes to,
  at connect time: the host name is resolved once, every address is checked, and the socket
  is opened to a checked address only, so a name that resolves to a public address for a
  check and to 127.0.0.1 for the connection (DNS rebinding) cannot get through, and neither
  can a redirect, which opens its own connection. Loopback, private, link-local, shared
  (CGNAT), multicast, reserved and unspecified addresses are refused unless `allow_private`;
  the cloud metadata endpoints (169.254.169.254, fd00:ec2::254 and kin) are refused always:
  no feed or webhook lives there, and they hand out the machine's credentials. Proxies from
  the environment and ~/.netrc are ignored by such a session (a proxy would resolve the
  name where no check can see it; netrc would attach credentials by host name).
- **Redirects.** `send()` never lets requests follow a redirect: it follows them itself, by
  a policy: "none", "same-origin" (scheme, host and port unchanged, or http upgraded to
  https on the default ports, so credentials in headers or the query reach only the host
  they were meant for) or "any" (http(s) targets only; for requests that carry no
  credential of ours, such as a feed URL, checked by the session's address rule per hop).
- **Limits.** `send()` reads the body itself: at most `max_bytes` after Content-Encoding
  is undone (urllib3 >= 2.6 inflates at most one chunk's worth per read, so a gzip bomb
  stops at the cap) and within `max_seconds` in total; `gunzip()` caps a gzip document the
  same way.

Every refusal is an `OutboundRefused` whose text names the address or host and the rule.
"""
from __future__ import annotations

import functools
import ipaddress
import socket
import time
import zlib
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError
from urllib3.util.connection import allowed_gai_family

Redirects = Literal["none", "same-origin", "any"]

# Cloud instance metadata (AWS, GCP, Azure, OpenStack; ECS tasks; Alibaba; AWS over IPv6).
METADATA_ADDRESSES = frozenset(ipaddress.ip_address(text) for text in (
    "169.254.169.254", "169.254.170.2", "100.100.100.200", "fd00:ec2::254"))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")
_DEFAULT_PORTS = {"http": 80, "https": 443}
_CHUNK = 64 * 1024


class OutboundRefused(Exception):
    """The request was not sent, or its answer not read, because it broke a rule above."""


class AddressRefused(OutboundRefused):
    def __init__(self, host: str, address: str, rule: str):
        self.host, self.address, self.rule = host, address, rule
        where = address if host.strip("[]") == address else f"{host} ({address})"
        hint = ("refused always" if rule == "cloud metadata"
                else "refused unless allow_private_addresses is set")
        super().__init__(f"{where} is a {rule} address, {hint}")


class RedirectRefused(OutboundRefused):
    def __init__(self, target: str, rule: str):
        self.target, self.rule = target, rule
        super().__init__(f"redirected to {target}: {rule}")


class LimitExceeded(OutboundRefused):
    """The answer was larger, or took longer, than the caller allows."""


class TooLarge(LimitExceeded):
    pass


class TooSlow(LimitExceeded):
    pass


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 32 * 1024 * 1024
    max_seconds: float = 120.0
    max_redirects: int = 5


def address_rule(address: str, allow_private: bool = False) -> str | None:
    """The rule that refuses connecting to `address` (an IP literal), or None if allowed."""
    ip = _embedded_ipv4(ipaddress.ip_address(address.split("%", 1)[0]))
    if ip in METADATA_ADDRESSES:
        return "cloud metadata"
    if allow_private:
        return None
    for rule, hit in (("loopback", ip.is_loopback), ("link-local", ip.is_link_local),
                      ("unspecified", ip.is_unspecified), ("multicast", ip.is_multicast),
                      ("private", ip.is_private), ("reserved", ip.is_reserved),
                      ("non-global", not ip.is_global)):
        if hit:
            return rule
    return None


def _embedded_ipv4(ip: ipaddress.IPv4Address | ipaddress.IPv6Address):
    """The IPv4 address an IPv6 one reaches (mapped, 6to4, NAT64's prefix), else itself."""
    if isinstance(ip, ipaddress.IPv4Address):
        return ip
    if ip.ipv4_mapped or ip.sixtofour:
        return ip.ipv4_mapped or ip.sixtofour
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return ip


def check_address(host: str, port: int, allow_private: bool = False) -> list[str]:
    """Resolve `host` and return the addresses a connection may use, in resolver order.

    Raises AddressRefused (naming the first refused address and its rule) when none may be
    used, and socket.gaierror when the name does not resolve. Addresses that are refused
    are skipped when the name also has allowed ones: a connection never goes to them."""
    results = socket.getaddrinfo(host.strip("[]"), port, allowed_gai_family(), socket.SOCK_STREAM)
    addresses = list(dict.fromkeys(str(result[4][0]) for result in results))
    allowed = [address for address in addresses if address_rule(address, allow_private) is None]
    if not allowed:
        first = addresses[0]
        raise AddressRefused(host, first, address_rule(first, allow_private) or "refused")
    return allowed


def _checked(base: type[HTTPConnection], allow_private: bool) -> type[HTTPConnection]:
    class Checked(base):  # type: ignore[valid-type, misc]
        """Opens its socket only to an address that check_address allows; TLS still
        verifies (and sends SNI for) the host name, not the address."""

        def _new_conn(self):
            host = self._dns_host
            try:
                addresses = check_address(host, self.port, allow_private)
            except socket.gaierror as exc:
                raise NameResolutionError(self.host, self, exc) from exc
            error: Exception | None = None
            for address in addresses:
                self._dns_host = address
                try:
                    return super()._new_conn()
                except (ConnectTimeoutError, OSError) as exc:  # try the next address
                    error = exc
                finally:
                    self._dns_host = host
            assert error is not None
            raise error

    Checked.__name__ = f"Checked{base.__name__}"
    return Checked


@functools.cache
def _pool_classes(allow_private: bool) -> dict[str, type]:
    http = type("CheckedHTTPConnectionPool", (HTTPConnectionPool,),
                {"ConnectionCls": _checked(HTTPConnection, allow_private)})
    https = type("CheckedHTTPSConnectionPool", (HTTPSConnectionPool,),
                 {"ConnectionCls": _checked(HTTPSConnection, allow_private)})
    return {"http": http, "https": https}


class GuardedAdapter(HTTPAdapter):
    """An HTTPAdapter whose connections go only to addresses check_address allows."""

    def __init__(self, allow_private: bool = False, **kwargs: Any):
        self.allow_private = allow_private
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = _pool_classes(self.allow_private)

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any):
        raise OutboundRefused(f"a proxy ({urlsplit(proxy).hostname}) would resolve the address "
                              "where it cannot be checked")


def guarded_session(allow_private: bool = False) -> requests.Session:
    """A requests session whose every connection is address-checked (see the module text)."""
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter(allow_private)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    return scheme, (parts.hostname or "").lower(), parts.port or _DEFAULT_PORTS.get(scheme)


def same_origin(sent: str, target: str) -> bool:
    """Whether credentials meant for `sent` may go to `target`: same scheme, host and port,
    or the same host upgraded from http:80 to https:443 (never downgraded)."""
    was, now = origin(sent), origin(target)
    if was == now:
        return True
    return (was[1] == now[1] and (was[0], was[2]) == ("http", 80)
            and (now[0], now[2]) == ("https", 443))


def http_only(url: str) -> None:
    """Refuse a URL whose scheme is not http or https."""
    scheme = urlsplit(url).scheme.lower()
    if scheme not in _DEFAULT_PORTS:
        raise OutboundRefused(f"{scheme or 'a relative'}: URLs are not fetched; use http(s)")


def send(session: requests.Session, method: str, url: str, *, timeout: float,
         redirects: Redirects = "none", limits: Limits = Limits(), **kwargs: Any) -> requests.Response:
    """Send one request, following redirects by `redirects`, and read its body within limits.

    Returns the final response with its body already read (`response.content`) and
    `response.url` set to where it came from. A redirect when `redirects` is "none" is
    returned as it is. Raises OutboundRefused, or requests' own exceptions."""
    http_only(url)
    deadline = time.monotonic() + limits.max_seconds
    first = url
    for _ in range(limits.max_redirects + 1):
        response = session.request(method, url, timeout=timeout, allow_redirects=False,
                                   stream=True, **kwargs)
        if not response.is_redirect or redirects == "none":
            read_body(response, limits.max_bytes, deadline)
            return response
        response.close()
        target = urljoin(response.url or url, response.headers["Location"])
        _may_follow(first, target, redirects)
        method, kwargs = _redirected(method, response.status_code, kwargs)
        url = target
    raise RedirectRefused(origin_label(url), f"more than {limits.max_redirects} redirects")


def _may_follow(first: str, target: str, redirects: Redirects) -> None:
    try:
        http_only(target)
    except OutboundRefused as exc:
        raise RedirectRefused(origin_label(target), str(exc)) from None
    if redirects == "same-origin" and not same_origin(first, target):
        raise RedirectRefused(origin_label(target),
                              f"another host than {origin_label(first)}, not followed "
                              "so that no credential leaves the configured host")


def _redirected(method: str, status: int, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The next hop's method and arguments, as browsers (and requests) rewrite them: the
    query parameters are part of the Location already; 303 (and 301/302 after a POST)
    becomes a GET without a body."""
    kwargs = {key: value for key, value in kwargs.items() if key != "params"}
    if method != "HEAD" and (status == 303 or (status in (301, 302) and method == "POST")):
        method = "GET"
        kwargs = {key: value for key, value in kwargs.items()
                  if key not in ("data", "json", "files")}
    return method, kwargs


def origin_label(url: str) -> str:
    scheme, host, port = origin(url)
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{shown}" + ("" if port == _DEFAULT_PORTS.get(scheme) else f":{port}")


def read_body(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    """Read a streamed response's (decoded) body into `response.content`, within the caps."""
    body = bytearray()
    try:
        for chunk in response.iter_content(_CHUNK):
            body += chunk
            if len(body) > max_bytes:
                raise TooLarge(f"the answer is larger than {_size(max_bytes)}")
            if time.monotonic() > deadline:
                raise TooSlow("the answer took longer than its time limit to arrive")
    finally:
        response.close()
    response._content = bytes(body)
    response._content_consumed = True
    return response._content


def gunzip(data: bytes, max_bytes: int) -> bytes:
    """Inflate gzip `data` (every member) to at most `max_bytes`; raises LimitExceeded beyond
    it and ValueError for damaged or truncated data."""
    out = bytearray()
    while data:
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            out += inflater.decompress(data, max_bytes + 1 - len(out))
        except zlib.error as exc:
            raise ValueError(str(exc)) from None
        if len(out) > max_bytes:
            raise TooLarge(f"the gzip data inflates to more than {_size(max_bytes)}")
        if not inflater.eof:
            raise ValueError("the data ends before the gzip stream does")
        data = inflater.unused_data.lstrip(b"\0")
    return bytes(out)


def _size(count: int) -> str:
    return f"{count / 1024 / 1024:g} MB" if count >= 1024 * 1024 else f"{count} bytes"
