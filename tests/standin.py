"""A local stand-in HTTP server for adapter tests: it answers recorded bodies on 127.0.0.1,
so an adapter is shown working through its configured base URL over a real socket."""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Answer:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "application/json"})


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


class StandIn:
    """Routes map a method, a path and optionally query parameters to an Answer; every
    request is kept in `requests`."""

    def __init__(self):
        self.routes: list[tuple[str, str, dict[str, str], Answer]] = []
        self.requests: list[Request] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def route(self, method: str, path: str, answer: Answer, when: dict[str, str] | None = None) -> None:
        """Answer requests to `path` whose query has every parameter in `when`."""
        self.routes.append((method.upper(), path, when or {}, answer))

    def answer_for(self, request: Request) -> Answer:
        for method, path, when, answer in self.routes:
            if (method, path) == (request.method, request.path) and all(
                    request.query.get(name) == [value] for name, value in when.items()):
                return answer
        return Answer(404, b"{}")

    def start(self) -> "StandIn":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                request = Request(self.command, parts.path, parse_qs(parts.query),
                                  dict(self.headers), self.rfile.read(length))
                standin.requests.append(request)
                answer = standin.answer_for(request)
                body = answer.body.encode() if isinstance(answer.body, str) else answer.body
                self.send_response(answer.status)
                for name, value in answer.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        return Handler
