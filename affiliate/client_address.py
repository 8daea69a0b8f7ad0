"""The address a request came from, for the limits that tell clients apart (console logins,
counted clicks); it is never stored as it is."""
from __future__ import annotations

from flask import request


def client_address(proxy_hops: int) -> str:
    """The connection's address, or behind `proxy_hops` proxies the one the farthest of them
    saw (X-Forwarded-For is appended to, so counted from the end)."""
    forwarded = [part.strip() for part in request.headers.get("X-Forwarded-For", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if proxy_hops and len(forwarded) >= proxy_hops:
        return forwarded[-proxy_hops]
    return request.remote_addr or ""
