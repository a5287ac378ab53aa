"""sfarrow.Connection against the emulator: every grant, the failures a user meets, sessions that
renew themselves, and secrets that never show."""

from __future__ import annotations

import asyncio
import logging
import os
import stat
import threading
import time
import urllib.parse

import pytest
import requests
from sf_helpers import follow_authorize, free_port

import sfarrow
from sfarrow import (
    ApiError,
    AuthenticationError,
    ConfigurationError,
    SalesforceError,
    TransportError,
)
from sfarrow.testing import Org


@pytest.fixture
def org():
    with Org(seed={"Account": 20}) as o:
        yield o


def replace_param(url: str, name: str, value: str) -> str:
    parts = urllib.parse.urlsplit(url)
    q = dict(urllib.parse.parse_qsl(parts.query))
    if name in q:
        q[name] = value
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(q)))


def auth_code(org: Org, **kw):
    port = free_port()
    org.add_redirect_uri(f"http://localhost:{port}/OauthRedirect")
    kw.setdefault("open_browser", follow_authorize)
    return sfarrow.Connection.authorization_code(org.client_id, environment=org.url, port=port, timeout=20, **kw)


# -- every grant --------------------------------------------------------------------------
def test_existing_session_and_limits(org):
    conn = sfarrow.Connection(org.url, org.access_token)
    assert conn.grant == "session"
    limits = conn.limits()
    assert limits["DailyApiRequests"]["Max"] == 100_000
    used, mx = conn.api_usage
    assert mx == 100_000 and used >= 1


def test_https_with_the_emulators_ca(org):
    conn = sfarrow.Connection(org.https_url, org.access_token, ca_file=org.ca_file)
    assert conn.request("GET", "query?q=SELECT+COUNT()+FROM+Account")["totalSize"] == 20
    with pytest.raises(TransportError):
        sfarrow.Connection(org.https_url, org.access_token, retries=0)  # CA not trusted


def test_jwt_bearer(org, tmp_path):
    conn = sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url)
    assert conn.grant == "jwt"
    assert (conn.org_id, conn.user_id) == (org.org_id, org.user_id)
    key = tmp_path / "server.key"
    key.write_text(org.private_key_pem)
    assert sfarrow.Connection.jwt(org.client_id, org.username, key, environment=org.url).limits()


def test_client_credentials(org):
    conn = sfarrow.Connection.client_credentials(org.client_id, org.client_secret, environment=org.url)
    assert conn.grant == "client_credentials"
    assert conn.request("GET", "sobjects/Account/describe")["name"] == "Account"


def test_authorization_code_with_pkce_and_token_cache(org, tmp_path):
    cache = tmp_path / "tokens" / "sf.json"
    tokens = []
    conn = auth_code(org, token_cache=cache, on_token=tokens.append)
    assert conn.grant == "refresh_token"
    assert conn.limits()["DailyApiRequests"]
    assert stat.S_IMODE(os.stat(cache).st_mode) == 0o600
    assert tokens and tokens[0][1] is not None
    authorize_requests = [r for r in org.requests() if r["path"].endswith("/authorize")]
    q = dict(urllib.parse.parse_qsl(authorize_requests[0]["query"]))
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43 and q["state"]

    def no_browser(url: str) -> None:
        raise AssertionError("the token cache should have made the browser unnecessary")

    again = auth_code(org, token_cache=cache, open_browser=no_browser)
    assert again.limits()["DailyApiRequests"]


def test_refresh_token_grant(org):
    tokens = []
    auth_code(org, on_token=tokens.append)
    refresh = tokens[0][1]
    conn = sfarrow.Connection.refresh_token(org.client_id, refresh, environment=org.url)
    assert conn.grant == "refresh_token" and conn.limits()


def test_device_flow(org):
    prompts = []

    def approve(prompt):
        code, uri = prompt
        prompts.append(code)
        requests.get(uri, params={"user_code": code}, timeout=10)

    conn = sfarrow.Connection.device(org.client_id, environment=org.url, prompt=approve, timeout=30)
    assert prompts and conn.grant == "refresh_token"
    assert conn.limits()


def test_async_variants(org):
    async def main():
        conn = await sfarrow.Connection.jwt_async(org.client_id, org.username, org.private_key_pem, environment=org.url)
        limits, described = await asyncio.gather(conn.limits_async(), conn.request_async("GET", "sobjects/Contact/describe"))
        return limits, described

    limits, described = asyncio.run(main())
    assert "DailyApiRequests" in limits and described["name"] == "Contact"


# -- what a user sees when it fails -------------------------------------------------------
def test_wrong_client_secret(org):
    with pytest.raises(AuthenticationError) as e:
        sfarrow.Connection.client_credentials(org.client_id, "not-the-secret", environment=org.url)
    assert e.value.error_code == "invalid_client" and e.value.status == 400
    assert "invalid client credentials" in str(e.value)


def test_unknown_client_id(org):
    with pytest.raises(AuthenticationError) as e:
        sfarrow.Connection.jwt("3MVG9-unknown", org.username, org.private_key_pem, environment=org.url)
    assert e.value.error_code == "invalid_client_id"
    assert "client identifier invalid" in str(e.value)


def test_jwt_signed_by_another_key(org):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(AuthenticationError) as e:
        sfarrow.Connection.jwt(org.client_id, org.username, other, environment=org.url)
    assert e.value.error_code == "invalid_grant" and "invalid assertion" in str(e.value)


def test_jwt_wrong_audience(org):
    with pytest.raises(AuthenticationError) as e:
        sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url, audience="https://wrong.example.com")
    assert e.value.error_code == "invalid_grant" and "audience is invalid" in str(e.value)


def test_jwt_expired_assertion(org):
    with pytest.raises(AuthenticationError) as e:
        sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url, assertion_lifetime=-60)
    assert e.value.error_code == "invalid_grant" and "expired" in str(e.value)


def test_bad_private_key(org):
    with pytest.raises(ConfigurationError, match="PEM"):
        sfarrow.Connection.jwt(org.client_id, org.username, "-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----", environment=org.url)


def test_revoked_refresh_token(org):
    tokens = []
    auth_code(org, on_token=tokens.append)
    refresh = tokens[0][1]
    assert requests.post(f"{org.url}/services/oauth2/revoke", data={"token": refresh}, timeout=10).status_code == 200
    with pytest.raises(AuthenticationError) as e:
        sfarrow.Connection.refresh_token(org.client_id, refresh, environment=org.url)
    assert e.value.error_code == "invalid_grant" and "expired access/refresh token" in str(e.value)


def test_pkce_verifier_mismatch(org):
    from sfarrow.testing import Org as _  # noqa: F401  (the emulator checks S256(verifier) == challenge)

    def browser(url):
        # A challenge that does not belong to the client's verifier.
        follow_authorize(url, tamper=lambda u: replace_param(u, "code_challenge", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"))

    with pytest.raises(AuthenticationError) as e:
        auth_code(org, open_browser=browser)
    assert e.value.error_code == "invalid_grant" and "code verifier" in str(e.value)


def test_state_mismatch(org):
    def browser(url):
        follow_authorize(url, tamper=lambda u: replace_param(u, "state", "forged"))

    with pytest.raises(AuthenticationError) as e:
        auth_code(org, open_browser=browser)
    assert e.value.error_code == "state_mismatch" and "CSRF" in str(e.value)


def test_unreachable_host():
    with pytest.raises(TransportError) as e:
        sfarrow.Connection("http://127.0.0.1:9", "token", retries=1)
    assert isinstance(e.value, ConnectionError) and "could not connect" in str(e.value)


def test_configuration_errors(org):
    with pytest.raises(ConfigurationError, match="plain http"):
        sfarrow.Connection("http://acme.my.salesforce.com", "token")
    with pytest.raises(ConfigurationError, match="not served"):
        sfarrow.Connection(org.url, org.access_token, api_version="99.0")
    with pytest.raises(ConfigurationError, match="api_version"):
        sfarrow.Connection(org.url, org.access_token, api_version="fifty")
    with pytest.raises(ConfigurationError, match="My Domain"):
        sfarrow.Connection.client_credentials(org.client_id, org.client_secret, environment=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):  # ConfigurationError is a ValueError too
        sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment="nonsense")


def test_api_errors_carry_salesforce_codes(org):
    conn = sfarrow.Connection(org.url, org.access_token)
    with pytest.raises(ApiError) as e:
        conn.request("GET", "query?q=SELECT+Nope+FROM+Account")
    assert e.value.error_code == "INVALID_FIELD" and e.value.status == 400
    org.set_api_limit(5, used=5)
    with pytest.raises(sfarrow.ApiLimitError) as e2:
        conn.limits()
    assert e2.value.error_code == "REQUEST_LIMIT_EXCEEDED"


def test_a_plain_session_that_expires_says_how_to_renew(org):
    org.set_token_lifetime(1)
    token = requests.post(
        org.token_url, data={"grant_type": "client_credentials", "client_id": org.client_id, "client_secret": org.client_secret}, timeout=10
    ).json()["access_token"]
    conn = sfarrow.Connection(org.url, token)
    org.expire_sessions()
    with pytest.raises(AuthenticationError, match="cannot renew"):
        conn.limits()


# -- sessions that renew themselves --------------------------------------------------------
def test_renewal_once_per_expiry_across_concurrent_rest_and_bulk(org):
    org.set_token_lifetime(2)
    conn = sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url)
    org.clear_requests()
    calls = 0

    async def burst():
        nonlocal calls
        jobs = [conn.request_async("GET", "limits") for _ in range(10)]
        jobs += [conn.request_async("GET", "sobjects/Account/describe") for _ in range(5)]
        jobs += [conn.request_async("POST", "jobs/query", {"operation": "query", "query": "SELECT Id FROM Account"}) for _ in range(5)]
        results = await asyncio.gather(*jobs)
        calls += len(results)
        for job in results[-5:]:
            info = await conn.request_async("GET", f"jobs/query/{job['id']}")
            calls += 1
            assert info["state"] in ("UploadComplete", "InProgress", "JobComplete")

    async def run():
        started = time.monotonic()
        while time.monotonic() - started < 7:
            await burst()
            await asyncio.sleep(0.25)

    asyncio.run(run())
    # Plain threads too: sync calls release the GIL and share the renewal.
    threads = [threading.Thread(target=lambda: [conn.limits() for _ in range(10)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    calls += 40
    assert calls >= 300
    log = org.requests()
    grants = [r for r in log if r["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"]
    expired = [r for r in log if r["status"] == 401]
    assert conn.renewals == len(grants) >= 3
    # Several hundred requests over ~7 s with a 2 s lifetime: about one renewal per expiry.
    assert len(grants) <= 6, f"{len(grants)} renewals for {calls} requests"
    assert all(r["status"] in (200, 201, 401) for r in log)
    assert len(expired) >= len(grants)


def test_rotated_refresh_token_is_handed_over_and_cached(org, tmp_path):
    cache = tmp_path / "sf.json"
    seen = []
    org.set_refresh_token_rotation(True)
    conn = auth_code(org, token_cache=cache, on_token=seen.append)
    first_refresh = seen[-1][1]
    org.set_token_lifetime(1)
    # Issue a short-lived session, then let it expire.
    conn2 = sfarrow.Connection.refresh_token(org.client_id, first_refresh, environment=org.url, on_token=seen.append)
    org.expire_sessions()
    assert conn2.limits()
    assert conn2.renewals == 1
    rotated = seen[-1][1]
    assert rotated and rotated != first_refresh
    assert conn.grant == "refresh_token"


# -- secrets never show --------------------------------------------------------------------
def test_no_secret_in_repr_errors_or_logs(org, caplog, capfd):
    caplog.set_level(logging.DEBUG)
    secrets = [org.client_secret, org.access_token, org.private_key_pem.splitlines()[1]]
    texts = []
    tokens = []
    conns = [
        sfarrow.Connection(org.url, org.access_token),
        sfarrow.Connection.jwt(org.client_id, org.username, org.private_key_pem, environment=org.url),
        sfarrow.Connection.client_credentials(org.client_id, org.client_secret, environment=org.url),
        auth_code(org, on_token=tokens.append, client_secret=org.client_secret),
    ]
    secrets += [t[0] for t in tokens] + [t[1] for t in tokens if t[1]]
    texts += [repr(c) for c in conns] + [str(c.__dict__) for c in conns] + [repr(c._raw) for c in conns]
    failures = [
        lambda: sfarrow.Connection.client_credentials(org.client_id, org.client_secret + "x", environment=org.url),
        lambda: sfarrow.Connection(org.url, org.access_token + "x"),
        lambda: sfarrow.Connection.jwt(org.client_id, "nobody@example.com", org.private_key_pem, environment=org.url),
        lambda: sfarrow.Connection(f"http://127.0.0.1:9/{org.access_token}", org.access_token, retries=0),
        lambda: sfarrow.Connection("http://example.com", org.access_token),
        lambda: conns[0].request("GET", "query?q=SELECT+Nope+FROM+Account"),
    ]
    for f in failures:
        with pytest.raises(SalesforceError) as e:
            f()
        texts += [str(e.value), repr(e.value), repr(e.value.args)]
    out, err = capfd.readouterr()
    texts += [out, err, caplog.text]
    blob = "\n".join(texts)
    for s in secrets:
        assert s not in blob
