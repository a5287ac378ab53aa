"""The session goes only to the org: URLs the server hands back are compared as parsed scheme,
host and port; plain HTTP only to loopback; credentials never echoed; the token cache written
so no stale or planted file can leak it."""

from __future__ import annotations

import http.server
import json
import os
import socket
import stat
import threading
import urllib.request

import pytest
import requests

import sfarrow
from sfarrow.testing import Org


class Recorder(http.server.ThreadingHTTPServer):
    """A host that should never hear from sfarrow: it records whatever reaches it."""

    def __init__(self, host: str) -> None:
        self.seen: list[dict] = []
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                recorder.seen.append({"path": self.path, "authorization": self.headers.get("Authorization")})
                self.send_response(500)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        super().__init__((host, 0), Handler)
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def port(self) -> int:
        return self.server_address[1]


class Rewriter(http.server.ThreadingHTTPServer):
    """A man in the middle for the org: forwards every request, and in JSON answers replaces
    each `nextRecordsUrl` and `resultUrl` by what `rewrite` makes of it."""

    def __init__(self, upstream: str, rewrite) -> None:
        front = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def relay(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "accept-encoding", "content-length")}
                req = urllib.request.Request(upstream + self.path, data=body, headers=headers, method=self.command)
                try:
                    with urllib.request.urlopen(req) as r:
                        status, answer, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
                        extra = [(k, v) for k, v in r.headers.items() if k.lower().startswith("sforce") or k.lower() == "date"]
                except urllib.error.HTTPError as e:
                    status, answer, ctype = e.code, e.read(), e.headers.get("Content-Type", "")
                    extra = []
                if "json" in ctype and answer:
                    answer = json.dumps(front.rewrite_json(json.loads(answer))).encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype or "application/json")
                for k, v in extra:
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = relay

            def log_message(self, *args: object) -> None:
                pass

        self.rewrite = rewrite
        super().__init__(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def rewrite_json(self, v):
        if isinstance(v, dict):
            return {
                k: (self.rewrite(self.url, x) if k in ("nextRecordsUrl", "resultUrl") and isinstance(x, str) else self.rewrite_json(x)) for k, x in v.items()
            }
        if isinstance(v, list):
            return [self.rewrite_json(x) for x in v]
        return v


@pytest.fixture(scope="module")
def org():
    with Org(seed={"Account": 2500}, https=False) as o:
        yield o


def evil_forms(evil_port: int):
    return {
        "userinfo": lambda front, path: f"{front}@127.0.0.2:{evil_port}{path}",
        "longer port": lambda front, path: f"{front}1{path}",
        "other host": lambda front, path: f"http://127.0.0.2:{evil_port}{path}",
        "other name": lambda front, path: f"http://localhost:{front.rsplit(':', 1)[1]}{path}",
        "other scheme": lambda front, path: f"https://{front.split('//', 1)[1]}{path}",
    }


@pytest.mark.parametrize("form", ["userinfo", "longer port", "other host", "other name", "other scheme"])
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_server_given_urls_never_take_the_session_elsewhere(org, form, api):
    evil = Recorder("127.0.0.2")
    make = evil_forms(evil.port)[form]
    front = Rewriter(org.url, lambda front_url, url: make(front_url, url if url.startswith("/") else "/" + url))
    try:
        conn = sfarrow.Connection(front.url, org.access_token, retries=1)
        with pytest.raises(sfarrow.ConfigurationError, match="refusing to send the session") as e:
            conn.query("SELECT Id, Name FROM Account", api=api, bulk_page_size=1000)
        assert org.access_token not in str(e.value)
        assert evil.seen == [], "the token reached another host"
    finally:
        front.shutdown()
        evil.shutdown()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.attacker.example",
        "http://127.0.0.1.example.com",
        "http://localhost.example.com:8080",
        "http://10.0.0.1",
        "http://[::2]",
    ],
)
def test_plain_http_only_to_real_loopback(url):
    for connect in (
        lambda: sfarrow.Connection(url, "00Dsecret!token"),
        lambda: sfarrow.Connection.client_credentials("id", "very-secret", environment=url),
        lambda: sfarrow.Connection.refresh_token("id", "5Aep-refresh", environment=url),
    ):
        with pytest.raises(sfarrow.ConfigurationError, match="plain http") as e:
            connect()
        assert "secret" not in str(e.value) and "5Aep" not in str(e.value)


def test_plain_http_to_loopback_names_works(org):
    port = org.url.rsplit(":", 1)[1]
    for host in ("127.0.0.1", "localhost", "127.1"):
        conn = sfarrow.Connection(f"http://{host}:{port}", org.access_token)
        assert conn.limits()["DailyApiRequests"]["Max"] > 0


def test_a_password_in_a_url_is_refused_and_never_echoed(org):
    port = org.url.rsplit(":", 1)[1]
    with pytest.raises(sfarrow.ConfigurationError) as e:
        sfarrow.Connection(f"http://admin:hunter2@127.0.0.1:{port}", org.access_token)
    assert "hunter2" not in str(e.value) and "hunter2" not in repr(e.value)
    # A network error names only scheme, host and port.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    with pytest.raises(sfarrow.TransportError) as e:
        sfarrow.Connection(f"http://127.0.0.1:{dead}/services?token=abc", "00Dsecret", retries=0)
    assert "token=abc" not in str(e.value) and "00Dsecret" not in str(e.value)


@pytest.mark.skipif(os.name != "posix", reason="file modes and symlinks are POSIX")
def test_the_token_cache_ignores_stale_and_planted_files(org, tmp_path):
    cache = tmp_path / "token.json"
    stale = tmp_path / ".token.json.tmp"
    stale.write_text("{}")
    os.chmod(stale, 0o644)
    # A link planted at the cache's own name: a writer that opened the path would follow it
    # and put the token wherever it points; the cache replaces the link with a file of its own.
    target = tmp_path / "stolen"
    cache.symlink_to(target)

    def approve(prompt):
        code, uri = prompt
        requests.get(uri, params={"user_code": code}, timeout=10)

    conn = sfarrow.Connection.device(org.client_id, environment=org.url, prompt=approve, timeout=30, token_cache=cache)
    assert conn.limits()
    assert not cache.is_symlink() and stat.S_IMODE(cache.stat().st_mode) == 0o600
    assert json.loads(cache.read_text())["refresh_token"]
    assert not target.exists()
    leftovers = sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp"))
    assert leftovers == [".token.json.tmp"] and stale.read_text() == "{}"
