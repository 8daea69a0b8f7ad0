"""Where a webhook may be sent: https, to public addresses, unless the service allows local
endpoints for testing ([webhooks] allow_local_endpoints). Checked when an endpoint is
registered and again before every delivery (a name may come to resolve elsewhere)."""
from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

# Cloud metadata services answer on these; they are link-local or private anyway, named so the
# refusal says what they are.
METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}


class RefusedTarget(ValueError):
    """A URL webhooks may not be sent to; the message names the address and the rule."""


def check(url: str, allow_local: bool) -> None:
    parts = urlsplit(url)
    schemes = ("https", "http") if allow_local else ("https",)
    if parts.scheme not in schemes:
        raise RefusedTarget(f"url: {url!r} is not an https URL"
                            + ("" if allow_local else " (http only with [webhooks] allow_local_endpoints)"))
    if not parts.hostname or parts.username or parts.password:
        raise RefusedTarget(f"url: {url!r} needs a host and no user name or password")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise RefusedTarget(f"url: {url!r} has an invalid port") from None
    if allow_local:
        return
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise RefusedTarget(f"url: {parts.hostname} does not resolve ({exc})") from None
    for info in infos:
        address = ipaddress.ip_address(info[4][0].split("%")[0])
        rule = refusal(address)
        if rule:
            raise RefusedTarget(f"url: {parts.hostname} resolves to {address}, {rule}; only public "
                                "addresses are allowed (see [webhooks] allow_local_endpoints)")


def refusal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why an address is not public, or None."""
    if address in METADATA:
        return "a cloud metadata address"
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        return refusal(mapped)
    for test, name in ((address.is_loopback, "a loopback address"),
                       (address.is_link_local, "a link-local address"),
                       (address.is_private, "a private address"),
                       (address.is_multicast, "a multicast address"),
                       (address.is_unspecified, "an unspecified address"),
                       (address.is_reserved, "a reserved address")):
        if test:
            return name
    return None
