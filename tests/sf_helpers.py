"""Shared helpers for the emulator wire-protocol tests (imported by conftest.py and the test modules).

Every helper speaks raw HTTP with `requests`; the expectations come from
docs/wire-notes.md (the protocol facts, numbered as the code cites them), not from the
emulator.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import re
import socket
import threading
import time
from typing import Any, Iterable
from urllib.parse import parse_qs, urlparse

import requests

# ---------------------------------------------------------------------------------------------
# Formats from the reference (§2.5, §5.6, §1.2)
# ---------------------------------------------------------------------------------------------

ID18_RE = re.compile(r"^[a-zA-Z0-9]{18}$")
# §2.5: REST JSON datetimes are always UTC with milliseconds and a "+0000" offset.
REST_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
# §5.6: Bulk CSV datetimes use "Z" (DISCREPANCY with REST "+0000": accept both).
CSV_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}(Z|\+0000)$")
LIMIT_INFO_RE = re.compile(r"api-usage=(\d+)/(\d+)")

TERMINAL_QUERY_STATES = {"JobComplete", "Failed", "Aborted"}
TERMINAL_INGEST_STATES = {"JobComplete", "Failed", "Aborted"}

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}


def api(org, version: str | None = None) -> str:
    """Base URL of the versioned REST API, e.g. http://127.0.0.1:PORT/services/data/v58.0"""
    return f"{org.url}/services/data/v{version or org.api_version}"


def https_api(org, version: str | None = None) -> str:
    return f"{org.https_url}/services/data/v{version or org.api_version}"


def auth_headers(org, token: str | None = None, **extra: str) -> dict[str, str]:
    h = {"Authorization": f"Bearer {token or org.access_token}", "Accept": "application/json"}
    h.update(extra)
    return h


def token_url(org, base: str | None = None) -> str:
    return f"{base or org.url}/services/oauth2/token"


# ---------------------------------------------------------------------------------------------
# Error body assertions (§2.1, §1.3)
# ---------------------------------------------------------------------------------------------


def error_codes(resp: requests.Response) -> list[str]:
    """Assert the body is the REST error array (§2.1) and return its errorCodes."""
    body = resp.json()
    assert isinstance(body, list), f"error body must be a JSON array, got {body!r}"
    assert body, "error array must not be empty"
    for e in body:
        assert isinstance(e, dict) and "errorCode" in e and "message" in e, e
        assert isinstance(e["message"], str)
    return [e["errorCode"] for e in body]


def assert_api_error(resp: requests.Response, status: int | Iterable[int], *codes: str) -> dict:
    """Check status (one or a set) and that the first element's errorCode is one of `codes`."""
    statuses = {status} if isinstance(status, int) else set(status)
    assert resp.status_code in statuses, f"expected {statuses}, got {resp.status_code}: {resp.text[:500]}"
    got = error_codes(resp)
    if codes:
        assert got[0] in codes, f"expected errorCode in {codes}, got {got}: {resp.text[:500]}"
    return resp.json()[0]


def assert_oauth_error(resp: requests.Response, *errors: str, statuses=(400, 401)) -> dict:
    """§1.3: HTTP 400 (sometimes 401 for client auth failures) with {"error", "error_description"}."""
    assert resp.status_code in statuses, f"got {resp.status_code}: {resp.text[:500]}"
    body = resp.json()
    assert isinstance(body, dict), body
    assert "error" in body, body
    if errors:
        assert body["error"] in errors, f"expected error in {errors}, got {body}"
    return body


def assert_session_invalid(resp: requests.Response) -> None:
    """§1.13: exactly 401 + [{"message":"Session expired or invalid","errorCode":"INVALID_SESSION_ID"}]."""
    assert resp.status_code == 401, f"got {resp.status_code}: {resp.text[:300]}"
    body = resp.json()
    assert isinstance(body, list) and len(body) == 1, body
    assert body[0]["errorCode"] == "INVALID_SESSION_ID", body
    assert body[0]["message"] == "Session expired or invalid", body


def limit_info(resp: requests.Response) -> tuple[int, int]:
    v = resp.headers.get("Sforce-Limit-Info")
    assert v, f"missing Sforce-Limit-Info on {resp.request.method} {resp.url}"
    m = LIMIT_INFO_RE.search(v)
    assert m, f"Sforce-Limit-Info not in api-usage=N/M form: {v!r}"
    return int(m.group(1)), int(m.group(2))


# ---------------------------------------------------------------------------------------------
# OAuth helpers
# ---------------------------------------------------------------------------------------------


def pkce_pair(verifier: str | None = None) -> tuple[str, str]:
    import secrets

    verifier = verifier or base64.urlsafe_b64encode(secrets.token_bytes(64)).rstrip(b"=").decode()
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def location_params(resp: requests.Response) -> tuple[str, dict[str, str]]:
    loc = resp.headers.get("Location")
    assert loc, f"no Location header (status {resp.status_code}): {resp.text[:300]}"
    q = {k: v[0] for k, v in parse_qs(urlparse(loc).query).items()}
    return loc, q


def client_credentials_token(org, base: str | None = None, verify=None) -> dict:
    r = requests.post(
        token_url(org, base),
        data={"grant_type": "client_credentials", "client_id": org.client_id, "client_secret": org.client_secret},
        verify=verify if verify is not None else True,
    )
    assert r.status_code == 200, r.text
    return r.json()


def make_jwt(org, *, key_pem=None, iss=None, sub=None, aud="https://login.salesforce.com", exp=None, use_prn=False) -> str:
    import jwt  # PyJWT

    claims: dict[str, Any] = {
        "iss": iss or org.client_id,
        "aud": aud,
        "exp": int(time.time()) + 180 if exp is None else exp,
    }
    claims["prn" if use_prn else "sub"] = sub or org.username
    return jwt.encode(claims, key_pem or org.private_key_pem, algorithm="RS256")


def jwt_grant(org, assertion: str, base: str | None = None, verify=True) -> requests.Response:
    return requests.post(
        token_url(org, base),
        data={"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": assertion},
        verify=verify,
    )


# ---------------------------------------------------------------------------------------------
# REST helpers
# ---------------------------------------------------------------------------------------------


def query(org, soql: str, *, all_rows: bool = False, token: str | None = None, headers=None, version: str | None = None) -> requests.Response:
    h = auth_headers(org, token)
    if headers:
        h.update(headers)
    return requests.get(f"{api(org, version)}/{'queryAll' if all_rows else 'query'}", params={"q": soql}, headers=h)


def query_ok(org, soql: str, **kw) -> dict:
    r = query(org, soql, **kw)
    assert r.status_code == 200, f"{soql}: {r.status_code} {r.text[:500]}"
    return r.json()


def query_all_pages(org, soql: str, *, all_rows=False, batch_size: int | None = None) -> tuple[list[dict], list[dict]]:
    """Return (records, pages) following nextRecordsUrl."""
    headers = {"Sforce-Query-Options": f"batchSize={batch_size}"} if batch_size else None
    page = query_ok(org, soql, all_rows=all_rows, headers=headers)
    pages = [page]
    records = list(page["records"])
    guard = 0
    while not page["done"]:
        guard += 1
        assert guard < 200, "too many pages"
        h = auth_headers(org)
        if headers:
            h.update(headers)
        r = requests.get(org.url + page["nextRecordsUrl"], headers=h)
        assert r.status_code == 200, r.text
        page = r.json()
        pages.append(page)
        records.extend(page["records"])
    return records, pages


def create(org, sobject: str, fields: dict, version: str | None = None) -> str:
    r = requests.post(f"{api(org, version)}/sobjects/{sobject}", json=fields, headers=auth_headers(org))
    assert r.status_code == 201, f"create {sobject} {fields}: {r.status_code} {r.text[:500]}"
    body = r.json()
    assert body["success"] is True and body["errors"] == [], body
    return body["id"]


def delete(org, sobject: str, rid: str) -> None:
    r = requests.delete(f"{api(org)}/sobjects/{sobject}/{rid}", headers=auth_headers(org))
    assert r.status_code == 204, r.text


def retrieve(org, sobject: str, rid: str, fields: str | None = None) -> dict:
    params = {"fields": fields} if fields else None
    r = requests.get(f"{api(org)}/sobjects/{sobject}/{rid}", params=params, headers=auth_headers(org))
    assert r.status_code == 200, r.text
    return r.json()


def describe(org, sobject: str) -> dict:
    r = requests.get(f"{api(org)}/sobjects/{sobject}/describe", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    return r.json()


def fields_by_name(desc: dict) -> dict[str, dict]:
    return {f["name"]: f for f in desc["fields"]}


# ---------------------------------------------------------------------------------------------
# Bulk 2.0 helpers (§5, §6)
# ---------------------------------------------------------------------------------------------


def parse_csv(text: str, delimiter: str = ",") -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    rows = [r for r in rows if r != []]
    if not rows:
        return [], []
    return rows[0], rows[1:]


def csv_dicts(text: str, delimiter: str = ",") -> list[dict[str, str]]:
    header, rows = parse_csv(text, delimiter)
    return [dict(zip(header, r, strict=False)) for r in rows]


def create_query_job(org, soql: str, operation="query", version=None, **extra) -> requests.Response:
    body = {"operation": operation, "query": soql}
    body.update(extra)
    return requests.post(f"{api(org, version)}/jobs/query", json=body, headers=auth_headers(org, **{"Content-Type": "application/json"}))


def start_query_job(org, soql: str, operation="query", version=None, **extra) -> dict:
    r = create_query_job(org, soql, operation, version, **extra)
    assert r.status_code in (200, 201), f"{soql}: {r.status_code} {r.text[:500]}"
    return r.json()


def wait_query_job(org, job_id: str, version=None, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(f"{api(org, version)}/jobs/query/{job_id}", headers=auth_headers(org))
        assert r.status_code == 200, r.text
        info = r.json()
        if info["state"] in TERMINAL_QUERY_STATES:
            return info
        assert time.monotonic() < deadline, f"query job {job_id} stuck in {info['state']}"
        time.sleep(0.05)


def run_query_job(org, soql: str, operation="query", version=None, **extra) -> dict:
    job = start_query_job(org, soql, operation, version, **extra)
    info = wait_query_job(org, job["id"], version)
    assert info["state"] == "JobComplete", info
    return info


def fetch_results(org, job_id: str, *, locator=None, max_records=None, version=None, headers=None) -> requests.Response:
    params = {}
    if locator:
        params["locator"] = locator
    if max_records:
        params["maxRecords"] = max_records
    h = auth_headers(org, Accept="text/csv")
    if headers:
        h.update(headers)
    return requests.get(f"{api(org, version)}/jobs/query/{job_id}/results", params=params, headers=h)


def all_result_pages(org, job_id: str, max_records=None, version=None) -> list[requests.Response]:
    pages = []
    locator = None
    while True:
        r = fetch_results(org, job_id, locator=locator, max_records=max_records, version=version)
        assert r.status_code == 200, r.text
        pages.append(r)
        locator = r.headers.get("Sforce-Locator")
        assert locator, "Sforce-Locator header missing"
        if locator == "null":
            return pages
        assert len(pages) < 500, "too many pages"


def create_ingest_job(org, sobject: str, operation: str, version=None, **extra) -> requests.Response:
    body = {"object": sobject, "operation": operation, "contentType": "CSV"}
    body.update(extra)
    return requests.post(f"{api(org, version)}/jobs/ingest", json=body, headers=auth_headers(org, **{"Content-Type": "application/json"}))


def upload_csv(org, job_id: str, data: str, version=None) -> requests.Response:
    return requests.put(
        f"{api(org, version)}/jobs/ingest/{job_id}/batches", data=data.encode("utf-8"), headers=auth_headers(org, **{"Content-Type": "text/csv"})
    )


def set_ingest_state(org, job_id: str, state: str, version=None) -> requests.Response:
    return requests.patch(f"{api(org, version)}/jobs/ingest/{job_id}", json={"state": state}, headers=auth_headers(org, **{"Content-Type": "application/json"}))


def wait_ingest_job(org, job_id: str, version=None, timeout: float = 15.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        r = requests.get(f"{api(org, version)}/jobs/ingest/{job_id}", headers=auth_headers(org))
        assert r.status_code == 200, r.text
        info = r.json()
        if info["state"] in TERMINAL_INGEST_STATES:
            return info
        assert time.monotonic() < deadline, f"ingest job {job_id} stuck in {info['state']}"
        time.sleep(0.05)


def run_ingest(org, sobject: str, operation: str, data: str, **extra) -> dict:
    r = create_ingest_job(org, sobject, operation, **extra)
    assert r.status_code in (200, 201), r.text
    job = r.json()
    assert job["state"] == "Open", job
    up = upload_csv(org, job["id"], data)
    assert up.status_code == 201, f"{up.status_code} {up.text}"
    c = set_ingest_state(org, job["id"], "UploadComplete")
    assert c.status_code == 200, c.text
    info = wait_ingest_job(org, job["id"])
    assert info["state"] == "JobComplete", info
    return info


def ingest_results(org, job_id: str, kind: str, trailing_slash: bool = False) -> requests.Response:
    slash = "/" if trailing_slash else ""
    return requests.get(f"{api(org)}/jobs/ingest/{job_id}/{kind}{slash}", headers=auth_headers(org, Accept="text/csv"))


def unique_tag(prefix: str = "T") -> str:
    import uuid

    return f"{prefix}{uuid.uuid4().hex[:10]}"


def follow_authorize(url: str, *, tamper=None) -> None:
    """Plays the browser: the emulator's authorize endpoint consents and redirects to the
    loopback listener, which this then calls. Runs in a thread, as a browser would."""

    def run() -> None:
        target = tamper(url) if tamper else url
        r = requests.get(target, allow_redirects=False, timeout=10)
        assert r.status_code == 302, r.text
        location = r.headers["location"]
        if tamper:
            location = tamper(location)
        requests.get(location, timeout=10)

    threading.Thread(target=run, daemon=True).start()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def soap_undelete(org: Any, ids: list[str]) -> None:
    """Restores records from the recycle bin by the SOAP partner ``undelete()`` call (the API's
    way to undelete, which makes UNDELETE change events)."""
    body = "".join(f"<urn:ids>{i}</urn:ids>" for i in ids)
    envelope = (
        '<?xml version="1.0"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:partner.soap.sforce.com">'
        f"<soapenv:Header><urn:SessionHeader><urn:sessionId>{org.access_token}</urn:sessionId></urn:SessionHeader></soapenv:Header>"
        f"<soapenv:Body><urn:undelete>{body}</urn:undelete></soapenv:Body></soapenv:Envelope>"
    )
    r = requests.post(f"{org.url}/services/Soap/u/58.0", data=envelope, headers={"Content-Type": "text/xml", "SOAPAction": "undelete"})
    assert r.status_code == 200 and r.text.count("<success>true</success>") == len(ids), r.text
