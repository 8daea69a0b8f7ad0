"""Outbound requests stay home (providers.outbound): provider calls keep their credentials on
the configured host, feeds reach public addresses only unless allowed, and answers are capped.

Redirects and connect-time checks run over real sockets (tests/standin.py). A feed must look
public to be fetched at all, so `network` is a small fake DNS: it gives test names the
addresses a test wants, and routes the public address it hands out to a local stand-in, as a
real network routes a public address to a host. Nothing leaves the machine.
"""
from __future__ import annotations

import datetime as dt
import gzip
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from sqlmodel import select

from affiliate import create_app
from affiliate.catalog import prepare
from affiliate.models import ProviderState, RefreshRun
from affiliate.refresh import run_refresh
from providers.base import AuthFailed, BadResponse, Refused, Transient
from providers.http import Http
from providers.outbound import address_rule, same_origin
from providers.registry import build_provider
from tests.standin import Answer, StandIn

CATALOG = (Path(__file__).parent / "recordings" / "feed" / "catalog.json").read_bytes()
PUBLIC = "93.184.216.34"  # a global address; the fake network routes it to a stand-in
WM_KEY = "wm-key-SECRET-outbound-31"


@pytest.fixture
def elsewhere():
    """A second local server: another origin than `standin` (same address, another port)."""
    server = StandIn().start()
    yield server
    server.stop()


@pytest.fixture
def network(monkeypatch):
    """`network[name] = address` makes `name` resolve to `address`; a socket connecting to
    PUBLIC reaches 127.0.0.1 on the same port, as a router would forward it."""
    names: dict[str, str] = {}
    resolve, connect = socket.getaddrinfo, socket.socket.connect

    def getaddrinfo(host, port, *args, **kwargs):
        if host in names:
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (names[host], port))]
        return resolve(host, port, *args, **kwargs)

    def forwarded(sock, address):
        if isinstance(address, tuple) and address[0] == PUBLIC:
            address = ("127.0.0.1", *address[1:])
        return connect(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", forwarded)
    return names


def public_url(standin: StandIn, network: dict[str, str], path: str) -> str:
    network["feeds.outbound.test"] = PUBLIC
    return f"http://feeds.outbound.test:{standin.url.rsplit(':', 1)[1]}{path}"


def feed(url: str, **settings):
    return build_provider("shop", {"type": "feed", "url": url, **settings})


def redirect(to: str, status: int = 302) -> Answer:
    return Answer(status, b"", {"Location": to})


# --- the rules -------------------------------------------------------------------------------


@pytest.mark.parametrize("address, rule", [
    ("127.0.0.1", "loopback"), ("::1", "loopback"), ("::ffff:127.0.0.1", "loopback"),
    ("10.1.2.3", "private"), ("192.168.0.10", "private"), ("fd12::1", "private"),
    ("169.254.169.254", "cloud metadata"), ("fd00:ec2::254", "cloud metadata"),
    ("169.254.10.1", "link-local"), ("fe80::1", "link-local"), ("0.0.0.0", "unspecified"),
    ("224.0.0.1", "multicast"), ("100.64.0.1", "non-global"), ("2002:7f00:1::1", "loopback"),
    ("64:ff9b::a01:203", "private"), (PUBLIC, None), ("2606:4700::1111", None),
])
def test_address_rules(address, rule):
    assert address_rule(address) == rule


def test_allowing_private_addresses_still_refuses_the_metadata_service():
    assert address_rule("127.0.0.1", allow_private=True) is None
    assert address_rule("10.0.0.7", allow_private=True) is None
    assert address_rule("169.254.169.254", allow_private=True) == "cloud metadata"


@pytest.mark.parametrize("sent, target, same", [
    ("https://api.example/v1/a", "https://API.example:443/v2/b?x=1", True),
    ("http://api.example/a", "https://api.example/a", True),  # upgraded on the default ports
    ("https://api.example/a", "http://api.example/a", False),  # never downgraded
    ("https://api.example/a", "https://cdn.api.example/a", False),
    ("http://127.0.0.1:8001/a", "http://127.0.0.1:8002/a", False),
])
def test_same_origin(sent, target, same):
    assert same_origin(sent, target) is same


# --- provider calls --------------------------------------------------------------------------


def watchmode(base_url: str):
    return build_provider("watchmode", {"type": "watchmode", "api_key": WM_KEY,
                                        "base_url": base_url})


def test_a_provider_follows_a_redirect_on_its_own_host_with_its_key(standin):
    standin.route("GET", "/v1/status/", redirect(f"{standin.url}/v2/status/", 308))
    standin.route("GET", "/v2/status/", Answer(200, '{"quota": 1000, "quotaUsed": 10}'))
    assert "990 of 1000" in watchmode(standin.url).check_credentials()
    assert standin.requests[-1].path == "/v2/status/"
    assert standin.requests[-1].headers["X-API-Key"] == WM_KEY


def test_a_provider_redirected_to_another_host_sends_it_nothing(standin, elsewhere):
    standin.route("GET", "/v1/status/", redirect(f"{elsewhere.url}/v1/status/"))
    elsewhere.route("GET", "/v1/status/", Answer(401, "{}"))
    with pytest.raises(Refused) as refused:
        watchmode(standin.url).check_credentials()
    assert f"redirected to {elsewhere.url}" in str(refused.value)
    assert "another host" in str(refused.value)
    assert elsewhere.requests == []


def test_a_provider_redirected_to_plain_http_is_not_followed():
    with responses.RequestsMock() as mock:
        mock.get("https://api.watchmode.test/v1/status/", status=301,
                 headers={"Location": "http://api.watchmode.test/v1/status/"})
        with pytest.raises(Refused, match="redirected to http://api.watchmode.test: another host"):
            watchmode("https://api.watchmode.test").check_credentials()
        assert len(mock.calls) == 1


# --- feeds -----------------------------------------------------------------------------------


def test_a_public_feed_loads(standin, network):
    standin.route("GET", "/catalog.json", Answer(200, CATALOG))
    assert len(feed(public_url(standin, network, "/catalog.json")).fetch(None).offers) == 3


@pytest.mark.parametrize("target, refusal", [
    ("http://127.0.0.1:{port}/catalog.json", "127.0.0.1 is a loopback address, refused unless "
                                             "allow_private_addresses is set"),
    ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a cloud metadata address, "
                                                 "refused always"),
])
def test_a_feed_redirected_to_an_internal_address_is_refused_and_reported(
        make_settings, standin, elsewhere, network, target, refusal):
    elsewhere.route("GET", "/catalog.json", Answer(200, CATALOG))
    standin.route("GET", "/k3y/catalog.json",
                  redirect(target.format(port=elsewhere.url.rsplit(":", 1)[1])))
    url = public_url(standin, network, "/k3y/catalog.json")
    settings = make_settings(providers={"shop": {"type": "feed", "url": url}},
                             service={"demo_catalog": False})
    db = create_app(settings).extensions["affiliate"].db
    prepare(db)
    try:
        [report] = run_refresh(db, settings, "shop")
        with db.session() as session:
            state = session.get(ProviderState, "shop")
            [run] = session.exec(select(RefreshRun)).all()
    finally:
        db.dispose()
    assert report.status == "failed" and state.last_error_kind == "refused"
    assert refusal in state.last_error and refusal in run.message
    assert "k3y" not in state.last_error  # the feed's key stays out of the report
    assert elsewhere.requests == []


def test_a_feed_whose_name_resolves_to_loopback_is_refused_as_it_connects(standin, network):
    standin.route("GET", "/catalog.json", Answer(200, CATALOG))
    port = standin.url.rsplit(":", 1)[1]
    network["internal.outbound.test"] = "127.0.0.1"
    url = f"http://internal.outbound.test:{port}/catalog.json"
    with pytest.raises(Refused, match=r"internal\.outbound\.test \(127\.0\.0\.1\) is a loopback"):
        feed(url).fetch(None)
    assert standin.requests == []
    assert len(feed(url, allow_private_addresses=True).fetch(None).offers) == 3


def test_the_address_is_checked_on_every_fetch_not_once(standin, network):
    """A name that turns internal after it was first fetched (DNS rebinding) is refused."""
    standin.route("GET", "/catalog.json", Answer(200, CATALOG))
    adapter = feed(public_url(standin, network, "/catalog.json"))
    assert adapter.fetch(None).complete
    network["feeds.outbound.test"] = "127.0.0.1"
    with pytest.raises(Refused, match="loopback"):
        adapter.fetch(None)
    assert len(standin.requests) == 1


def test_a_feed_at_a_private_address_loads_when_allowed(standin):
    standin.route("GET", "/catalog.json", Answer(200, CATALOG))
    url = f"{standin.url}/catalog.json"
    with pytest.raises(ValueError, match="providers.shop.url: 127.0.0.1 is a loopback address; "
                                         "set allow_private_addresses = true"):
        feed(url)
    assert len(feed(url, allow_private_addresses=True).fetch(None).offers) == 3


def test_a_feed_url_naming_the_metadata_service_is_refused_with_the_config():
    with pytest.raises(ValueError, match="providers.shop.url: 169.254.169.254 is a cloud metadata"):
        feed("http://169.254.169.254/latest/meta-data/", allow_private_addresses=True)


@pytest.mark.parametrize("location", ["file:///etc/passwd", "ftp://feeds.example/catalog.json"])
def test_a_feed_redirected_off_http_is_refused(location):
    with responses.RequestsMock() as mock:
        mock.get("https://feeds.example/catalog.json", status=302, headers={"Location": location})
        with pytest.raises(Refused, match="URLs are not fetched; use http"):
            feed("https://feeds.example/catalog.json").fetch(None)


def test_an_endless_redirect_is_refused():
    with responses.RequestsMock() as mock:
        mock.get("https://feeds.example/catalog.json", status=302,
                 headers={"Location": "/catalog.json"})
        with pytest.raises(Refused, match="more than 5 redirects"):
            feed("https://feeds.example/catalog.json").fetch(None)


def test_a_401_from_where_a_feed_redirected_is_not_credentials_refused(standin, elsewhere):
    standin.route("GET", "/catalog.json", redirect(f"{elsewhere.url}/catalog.json"))
    elsewhere.route("GET", "/catalog.json", Answer(401, "{}"))
    with pytest.raises(BadResponse) as error:
        feed(f"{standin.url}/catalog.json", allow_private_addresses=True).fetch(None)
    assert not isinstance(error.value, AuthFailed)
    assert f"HTTP 401 from {elsewhere.url}" in str(error.value)
    assert "not taken as credentials refused" in str(error.value)


# --- caps ------------------------------------------------------------------------------------


def test_a_feed_larger_than_its_cap_is_refused():
    with responses.RequestsMock() as mock:
        mock.get("https://feeds.example/catalog.json", body=b" " * 4096 + CATALOG)
        with pytest.raises(BadResponse, match="larger than 4096 bytes"):
            feed("https://feeds.example/catalog.json", max_megabytes=4096 / 1024 / 1024).fetch(None)


def test_a_gzip_bomb_stops_at_the_cap_as_content_encoding(standin):
    bomb = gzip.compress(b" " * (8 * 1024 * 1024))
    standin.route("GET", "/catalog.json", Answer(200, bomb, {"Content-Type": "application/json",
                                                             "Content-Encoding": "gzip"}))
    adapter = feed(f"{standin.url}/catalog.json", allow_private_addresses=True, max_megabytes=1)
    with pytest.raises(BadResponse, match="larger than 1 MB"):
        adapter.fetch(None)


def test_a_gzip_bomb_stops_at_the_cap_as_a_file(tmp_path):
    path = tmp_path / "catalog.json.gz"
    path.write_bytes(gzip.compress(b" " * (8 * 1024 * 1024) + CATALOG))
    with pytest.raises(BadResponse, match="inflates to more than 1 MB; raise max_megabytes"):
        feed(str(path), max_megabytes=1).fetch(None)
    assert len(feed(str(path), max_megabytes=16).fetch(None).offers) == 3


def test_over_tls_the_checked_address_is_dialled_and_the_name_verified(tmp_path, network):
    """The socket goes to the address that was checked; the certificate is still verified
    against the host name (a certificate for the bare address would not do)."""
    cert, key = self_signed(tmp_path, "feeds.outbound.test")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _CatalogHandler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    network["feeds.outbound.test"] = PUBLIC
    try:
        url = f"https://feeds.outbound.test:{server.server_address[1]}/catalog.json"
        http = Http(5, check_addresses=True)
        assert http.request("GET", url, verify=str(cert)).content == CATALOG
        with pytest.raises(Transient, match="SSLError"):
            http.request("GET", f"https://{PUBLIC}:{server.server_address[1]}/catalog.json",
                         verify=str(cert))
    finally:
        server.shutdown()
        server.server_close()


class _CatalogHandler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Length", str(len(CATALOG)))
        self.end_headers()
        self.wfile.write(CATALOG)

    def log_message(self, *args):
        pass


def self_signed(directory: Path, name: str) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path
