"""Where a webhook may be sent: https, to public addresses (providers.outbound's rules), unless
the service allows local endpoints for testing ([webhooks] allow_local_endpoints). Checked
when an endpoint is registered and before every delivery; the connection itself is checked
again as it opens (a name may come to resolve elsewhere)."""
from __future__ import annotations

from urllib.parse import urlsplit

from providers import outbound


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
    try:
        outbound.check_address(parts.hostname, port, allow_private=allow_local)
    except outbound.AddressRefused as exc:
        allow = ("" if exc.rule == "cloud metadata"
                 else "; only public addresses are allowed (see [webhooks] allow_local_endpoints)")
        raise RefusedTarget(f"url: {parts.hostname} resolves to {exc.address}, a {exc.rule} address"
                            + allow) from None
    except (OSError, UnicodeError) as exc:
        raise RefusedTarget(f"url: {parts.hostname} does not resolve ({exc})") from None
