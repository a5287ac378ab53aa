"""The emulator answers as Salesforce does where clients notice: header spellings, seeded dates a
connector's default start date finds, faults shaped like real ones; and sfarrow sends what the
reference documents (decimals as JSON numbers)."""

from __future__ import annotations

import datetime as dt
import decimal
import http.client
import json
import socket
import threading

import pyarrow as pa
import pytest

import sfarrow
from sfarrow.testing import Org


@pytest.fixture(scope="module")
def org():
    with Org(seed={"Account": 1000}, https=False) as o:
        yield o


def raw_get(org, path: str, accept: str = "application/json") -> http.client.HTTPResponse:
    host, port = org.url.split("//")[1].split(":")
    c = http.client.HTTPConnection(host, int(port), timeout=10)
    c.request("GET", path, headers={"Authorization": f"Bearer {org.access_token}", "Accept": accept})
    return c.getresponse()


def test_headers_are_spelled_as_salesforce_spells_them(org):
    r = raw_get(org, "/services/data/v58.0/limits")
    r.read()
    names = [k for k, _ in r.getheaders()]
    assert "Content-Type" in names and "Sforce-Limit-Info" in names and "Date" in names
    conn = sfarrow.Connection(org.url, org.access_token)
    job = conn.request("POST", "jobs/query", {"operation": "query", "query": "SELECT Id FROM Account"})
    r = raw_get(org, f"/services/data/v58.0/jobs/query/{job['id']}/results?maxRecords=100", accept="text/csv")
    r.read()
    names = [k for k, _ in r.getheaders()]
    assert "Sforce-NumberOfRecords" in names and "Sforce-Locator" in names, names
    assert all(not n.islower() for n in names), names


def test_seeded_dates_cover_the_two_years_before_the_org_started(org):
    conn = sfarrow.Connection(org.url, org.access_token)
    t = conn.query("SELECT CreatedDate, LastModifiedDate, SystemModstamp FROM Account")
    now = conn.server_time()
    created = t["CreatedDate"].to_pylist()
    modified = t["SystemModstamp"].to_pylist()
    assert min(created) >= now - dt.timedelta(days=2 * 365 + 2) and max(modified) <= now
    assert all(c <= m for c, m in zip(created, modified, strict=False))
    assert t["LastModifiedDate"].to_pylist() == modified
    # A connector starting a year back finds about half; one starting 90 days back some.
    recent = sum(m >= now - dt.timedelta(days=365) for m in modified)
    assert 300 < recent < 1000
    assert sum(m >= now - dt.timedelta(days=90) for m in modified) > 0
    again = Org(seed={"Account": 3}, https=False)
    try:
        c2 = sfarrow.Connection(again.url, again.access_token)
        first = c2.query("SELECT Id, Name FROM Account ORDER BY Id").to_pylist()
        assert first == conn.query("SELECT Id, Name FROM Account ORDER BY Id LIMIT 3").to_pylist(), "seeding is deterministic"
    finally:
        again.close()


def test_truncate_sends_the_headers_and_cuts_the_body(org):
    org.inject_fault("truncate", nth=1, path="/limits")
    host, port = org.url.split("//")[1].split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(f"GET /services/data/v58.0/limits HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {org.access_token}\r\n\r\n".encode())
        data = b""
        while True:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    length = int([line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")][0])
    assert 0 < len(body) < length, "headers promised more than arrived"


def test_decimals_go_out_as_json_numbers_digit_for_digit(org):
    """A capturing proxy sees the sObject Collections body: the currency is a JSON number with
    the decimal's own digits, not a string and not a rounded double."""
    import http.server
    import urllib.request

    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def relay(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if body and "/composite/sobjects" in self.path:
                bodies.append(body)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "accept-encoding", "content-length")}
            req = urllib.request.Request(org.url + self.path, data=body, headers=headers, method=self.command)
            try:
                with urllib.request.urlopen(req) as r:
                    status, answer, ctype = r.status, r.read(), r.headers.get("Content-Type", "")
                    date = r.headers.get("Date")
            except urllib.error.HTTPError as e:
                status, answer, ctype, date = e.code, e.read(), e.headers.get("Content-Type", ""), None
            self.send_response(status)
            self.send_header("Content-Type", ctype or "application/json")
            if date:
                self.send_header("Date", date)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        do_GET = do_POST = do_PATCH = do_DELETE = relay

        def log_message(self, *args: object) -> None:
            pass

    proxy = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=proxy.serve_forever, daemon=True).start()
    try:
        conn = sfarrow.Connection(f"http://127.0.0.1:{proxy.server_address[1]}", org.access_token)
        revenue = pa.array([decimal.Decimal("12345678901234567.89")], pa.decimal128(19, 2))
        conn.insert("Account", pa.table({"Name": ["exact"], "AnnualRevenue": revenue}), api="rest")
    finally:
        proxy.shutdown()
    (body,) = bodies
    assert b'"AnnualRevenue":12345678901234567.89' in body, body
    parsed = json.loads(body, parse_float=decimal.Decimal)
    assert parsed["records"][0]["AnnualRevenue"] == decimal.Decimal("12345678901234567.89")


def test_keys_that_are_not_ascii_pem_are_configuration_errors(org):
    for key in ("clé privée".encode("latin-1"), b"\xff\xfe-----BEGIN PRIVATE KEY-----"):
        with pytest.raises(sfarrow.ConfigurationError, match="PEM"):
            sfarrow.Connection.jwt(org.client_id, org.username, key, environment=org.url)
    with pytest.raises(sfarrow.ConfigurationError, match="PEM"):
        sfarrow.Connection.jwt(org.client_id, org.username, "-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----", environment=org.url)


def test_a_ca_file_that_is_not_pem_is_a_configuration_error(org, tmp_path):
    bad = tmp_path / "ca.pem"
    bad.write_bytes("\xe9t\xe9".encode("latin-1"))
    with pytest.raises(sfarrow.ConfigurationError, match="ca_file"):
        sfarrow.Connection(org.url, org.access_token, ca_file=bad)
    with pytest.raises(sfarrow.ConfigurationError, match="ca_file"):
        sfarrow.Connection(org.url, org.access_token, ca_file=tmp_path / "missing.pem")
