"""Fault injection (inject_fault / clear_faults) and the request log (requests / clear_requests).

The failure shapes come from §8.2 (503 SERVER_UNAVAILABLE or HTML) and §8.3 (network errors,
truncated bodies, timeouts) of the reference."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import parse_qs

import pytest
import requests
import urllib3
from sf_helpers import api, auth_headers, query


def limits(org, **kw) -> requests.Response:
    return requests.get(f"{api(org)}/limits", headers=auth_headers(org), **kw)


def assert_503(r: requests.Response) -> None:
    assert r.status_code == 503, f"{r.status_code} {r.text[:200]}"
    ctype = r.headers.get("Content-Type", "")
    if "html" in ctype:
        assert "<" in r.text
    else:
        body = r.json()
        assert isinstance(body, list) and body[0]["errorCode"] == "SERVER_UNAVAILABLE", body


def query_params(entry: dict) -> dict:
    q = entry.get("query")
    if isinstance(q, dict):
        return {k: (v[0] if isinstance(v, list) else v) for k, v in q.items()}
    if not q:
        return {}
    return {k: v[0] for k, v in parse_qs(q.lstrip("?")).items()}


def test_503_then_recovers(fresh_org):
    org = fresh_org
    org.inject_fault("503", nth=1, path="/limits")
    assert_503(limits(org))
    assert limits(org).status_code == 200, "nth=1 fires once"


def test_503_on_query_and_token_endpoint(fresh_org):
    org = fresh_org
    org.inject_fault("503", nth=1, path="/query")
    assert_503(query(org, "SELECT Id FROM Account"))
    assert query(org, "SELECT Id FROM Account").status_code == 200
    org.inject_fault("503", nth=1, path="/services/oauth2/token")
    r = requests.post(
        f"{org.url}/services/oauth2/token", data={"grant_type": "client_credentials", "client_id": org.client_id, "client_secret": org.client_secret}
    )
    assert r.status_code == 503


def test_nth_targets_exactly_one_request(fresh_org):
    org = fresh_org
    org.inject_fault("503", nth=3, path="/limits")
    statuses = [limits(org).status_code for _ in range(5)]
    assert statuses == [200, 200, 503, 200, 200], statuses


def test_path_filter(fresh_org):
    org = fresh_org
    org.inject_fault("503", rate=1.0, path="/limits")
    assert query(org, "SELECT Id FROM Account").status_code == 200
    assert requests.get(f"{api(org)}/sobjects", headers=auth_headers(org)).status_code == 200
    assert limits(org).status_code == 503
    assert limits(org).status_code == 503


def test_rate_one_and_clear(fresh_org):
    org = fresh_org
    org.inject_fault("503", rate=1.0)
    assert [limits(org).status_code for _ in range(3)] == [503, 503, 503]
    org.clear_faults()
    assert [limits(org).status_code for _ in range(3)] == [200, 200, 200]


def test_rate_zero_never_fires(fresh_org):
    org = fresh_org
    org.inject_fault("503", rate=0.0)
    assert all(limits(org).status_code == 200 for _ in range(10))


def test_rate_half_is_random(fresh_org):
    org = fresh_org
    org.inject_fault("503", rate=0.5, path="/limits")
    statuses = [limits(org).status_code for _ in range(60)]
    fails = statuses.count(503)
    assert set(statuses) <= {200, 503}
    assert 8 <= fails <= 52, f"rate=0.5 gave {fails}/60 failures"


def test_drop_raises_connection_error(fresh_org):
    org = fresh_org
    org.inject_fault("drop", nth=1, path="/limits")
    with pytest.raises(requests.exceptions.ConnectionError):
        limits(org)
    assert limits(org).status_code == 200


def test_drop_over_tls(fresh_org):
    org = fresh_org
    org.inject_fault("drop", nth=1, path="/limits")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(f"{org.https_url}/services/data/v{org.api_version}/limits", headers=auth_headers(org), verify=org.ca_file)
    r = requests.get(f"{org.https_url}/services/data/v{org.api_version}/limits", headers=auth_headers(org), verify=org.ca_file)
    assert r.status_code == 200


def _truncated(r_or_exc) -> bool:
    if isinstance(r_or_exc, BaseException):
        return True
    r = r_or_exc
    cl = r.headers.get("Content-Length")
    if cl is not None and len(r.content) < int(cl):
        return True
    try:
        json.loads(r.content)
    except ValueError:
        return True
    return False


def _get_maybe_truncated(url, **kw):
    try:
        r = requests.get(url, **kw)
        r.content  # noqa: B018 — force the body read
        return r
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError, http.client.IncompleteRead, urllib3.exceptions.ProtocolError) as e:
        return e


def test_truncate(fresh_org):
    org = fresh_org
    org.seed("Account", 100)
    org.inject_fault("truncate", nth=1, path="/query")
    url = f"{api(org)}/query?q=SELECT+Id,Name,Description,BillingCity+FROM+Account"
    res = _get_maybe_truncated(url, headers=auth_headers(org, **{"Accept-Encoding": "identity"}))
    assert _truncated(res), "a truncated response must be detectable (exception or short body)"
    good = _get_maybe_truncated(url, headers=auth_headers(org, **{"Accept-Encoding": "identity"}))
    assert not _truncated(good)
    assert good.json()["totalSize"] == org.count("Account")


def test_truncate_bulk_results(fresh_org):
    org = fresh_org
    from sf_helpers import fetch_results, run_query_job

    info = run_query_job(org, "SELECT Id, Name FROM Contact")
    full = fetch_results(org, info["id"], headers={"Accept-Encoding": "identity"})
    assert full.status_code == 200
    org.inject_fault("truncate", nth=1, path="/results")
    try:
        r = fetch_results(org, info["id"], headers={"Accept-Encoding": "identity"})
        body = r.content
        cl = r.headers.get("Content-Length")
        assert (cl is not None and len(body) < int(cl)) or len(body) < len(full.content), "body was not truncated"
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError):
        pass
    again = fetch_results(org, info["id"], headers={"Accept-Encoding": "identity"})
    assert again.content == full.content


def test_delay(fresh_org):
    org = fresh_org
    t0 = time.monotonic()
    assert limits(org).status_code == 200
    base = time.monotonic() - t0
    org.inject_fault("delay", nth=1, path="/limits", delay=0.8)
    t0 = time.monotonic()
    r = limits(org)
    slow = time.monotonic() - t0
    assert r.status_code == 200, "a delay fault still answers"
    assert slow >= 0.75, slow
    t0 = time.monotonic()
    limits(org)
    assert time.monotonic() - t0 < 0.5 + base, "only the targeted request is delayed"


def test_delay_causes_client_timeout(fresh_org):
    org = fresh_org
    org.inject_fault("delay", nth=1, path="/limits", delay=1.5)
    with pytest.raises(requests.exceptions.Timeout):
        limits(org, timeout=0.5)
    assert org.faults_struck() == ["delay"]
    assert limits(org).status_code == 200


def test_request_log(fresh_org):
    org = fresh_org
    org.clear_requests()
    assert org.requests() == []
    requests.get(
        f"{api(org)}/query",
        params={"q": "SELECT Id FROM Account"},
        headers=auth_headers(org, **{"X-Test-Marker": "abc", "Sforce-Query-Options": "batchSize=200"}),
    )
    requests.get(f"{api(org)}/sobjects/NoSuchThing__c/describe", headers=auth_headers(org))
    requests.post(f"{api(org)}/sobjects/Account", json={"Name": "logged"}, headers=auth_headers(org))
    log = org.requests()
    assert len(log) == 3, log
    q, missing, created = log
    assert q["method"] == "GET"
    assert q["path"] == f"/services/data/v{org.api_version}/query"
    assert query_params(q) == {"q": "SELECT Id FROM Account"}
    assert q["status"] == 200
    assert q["headers"]["x-test-marker"] == "abc"
    assert q["headers"]["sforce-query-options"] == "batchSize=200"
    assert q["headers"]["authorization"].startswith("Bearer "), "the scheme is logged (the secret may be masked)"
    assert all(k == k.lower() for k in q["headers"])
    assert missing["status"] == 404 and missing["path"].endswith("/NoSuchThing__c/describe")
    assert created["method"] == "POST" and created["status"] == 201
    org.clear_requests()
    assert org.requests() == []


def test_request_log_records_faults(fresh_org):
    org = fresh_org
    org.clear_requests()
    org.inject_fault("503", nth=1, path="/limits")
    limits(org)
    limits(org)
    statuses = [e["status"] for e in org.requests() if e["path"].endswith("/limits")]
    assert statuses == [503, 200], statuses
