"""JSON answers for the routing errors under an API's prefix: a mistyped path (404) or method
(405) under /api/ or /admin/api/ answers `{"error": ...}` as every other API error does,
while the rest of the app (or a host app embedding the widgets) keeps its own error pages.

Flask raises routing errors before any blueprint is known, so a blueprint's error handlers
never see them; an app-wide error handler would replace a host app's own 404 page. A
`before_request` hook sees the routing error Flask is about to raise and answers it first,
for the prefixes asked for only.
"""
from __future__ import annotations

from flask import Flask, jsonify, request
from werkzeug.exceptions import HTTPException
from werkzeug.routing import RequestRedirect


def answer_routing_errors_as_json(app: Flask, prefix: str) -> None:
    """Routing errors under `prefix` ("/api/", "/affiliate/api/") answer in JSON."""
    def routing_error_as_json():
        error = request.routing_exception
        if (isinstance(error, HTTPException) and not isinstance(error, RequestRedirect)
                and request.path.startswith(prefix)):
            return json_error(error)
        return None

    app.before_request(routing_error_as_json)


def json_error(error: HTTPException):
    """An HTTP error as `{"error": description}`, with its status and headers (Allow on a 405)."""
    response = jsonify(error=error.description)
    response.status_code = error.code or 500
    for name, value in error.get_headers():
        if name.lower() != "content-type":
            response.headers[name] = value
    return response
