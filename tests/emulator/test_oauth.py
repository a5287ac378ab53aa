"""§1 OAuth 2.0 and identity: every grant, token response fields, token errors, revocation,
introspection, userinfo, identity URL, and the 401 INVALID_SESSION_ID contract (§1.13)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from urllib.parse import urlparse

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sf_helpers import (
    api,
    assert_oauth_error,
    assert_session_invalid,
    auth_headers,
    client_credentials_token,
    jwt_grant,
    location_params,
    make_jwt,
    pkce_pair,
    token_url,
)

ID_URL_RE = re.compile(r"/id/(00D[a-zA-Z0-9]{15})/(005[a-zA-Z0-9]{15})$")


# ---------------------------------------------------------------------------------------------
# helpers
# ---------------------------------------------------------------------------------------------


def assert_token_response(org, tok: dict, *, base_url: str | None = None, refresh: bool | None = None, require_signature: bool = True) -> None:
    """§1.2 field-by-field."""
    assert isinstance(tok.get("access_token"), str) and tok["access_token"], tok
    assert tok.get("token_type") == "Bearer", tok
    if base_url is None or base_url == org.url:
        assert tok.get("instance_url") == org.url, tok
    else:
        assert tok.get("instance_url") in (org.url, base_url), tok
    m = ID_URL_RE.search(tok.get("id", ""))
    assert m, f"id must end with /id/<org18>/<user18>: {tok.get('id')!r}"
    assert m.group(1) == org.org_id
    assert "expires_in" not in tok, "expires_in is never returned (§1.2)"
    if require_signature or "issued_at" in tok:
        issued = tok["issued_at"]
        assert isinstance(issued, str) and re.fullmatch(r"\d{13}", issued), f"issued_at must be a 13-digit ms string: {issued!r}"
        assert abs(int(issued) - time.time() * 1000) < 120_000, "issued_at is not 'now' in milliseconds"
    if require_signature or "signature" in tok:
        expected = base64.b64encode(hmac.new(org.client_secret.encode(), (tok["id"] + tok["issued_at"]).encode(), hashlib.sha256).digest()).decode()
        assert tok["signature"] == expected, "signature must be base64 HMAC-SHA256(id + issued_at) keyed with the secret"
    if refresh is True:
        assert tok.get("refresh_token"), tok
    elif refresh is False:
        assert "refresh_token" not in tok, f"this grant must not return a refresh_token: {tok}"


def token_works(org, token: str, base: str | None = None, verify=True) -> bool:
    r = requests.get(f"{base or org.url}/services/data/v{org.api_version}/limits", headers=auth_headers(org, token), verify=verify)
    if r.status_code == 401:
        assert_session_invalid(r)
        return False
    assert r.status_code == 200, r.text
    return True


def authorize(org, *, redirect_uri=None, challenge=None, method="S256", state="st-123", scope="api refresh_token", base=None, verify=True) -> requests.Response:
    params = {
        "response_type": "code",
        "client_id": org.client_id,
        "redirect_uri": redirect_uri or org.redirect_uri,
        "state": state,
        "scope": scope,
    }
    if challenge is not None:
        params["code_challenge"] = challenge
        if method:
            params["code_challenge_method"] = method
    return requests.get(f"{base or org.url}/services/oauth2/authorize", params=params, allow_redirects=False, verify=verify)


def get_code(org, **kw) -> str:
    r = authorize(org, **kw)
    assert r.status_code in (301, 302, 303, 307), f"authorize must redirect: {r.status_code} {r.text[:300]}"
    loc, q = location_params(r)
    assert loc.startswith(kw.get("redirect_uri") or org.redirect_uri), loc
    assert q.get("state") == kw.get("state", "st-123"), loc
    assert q.get("code"), loc
    return q["code"]


def exchange_code(org, code, verifier=None, redirect_uri=None, base=None, verify=True, secret=True):
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "client_id": org.client_id,
        "redirect_uri": redirect_uri or org.redirect_uri,
    }
    if secret:
        data["client_secret"] = org.client_secret
    if verifier is not None:
        data["code_verifier"] = verifier
    return requests.post(token_url(org, base), data=data, verify=verify)


def web_server_tokens(org) -> dict:
    verifier, challenge = pkce_pair()
    code = get_code(org, challenge=challenge)
    r = exchange_code(org, code, verifier)
    assert r.status_code == 200, r.text
    return r.json()


def other_private_key_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()


# ---------------------------------------------------------------------------------------------
# authorization_code + PKCE (§1.4)
# ---------------------------------------------------------------------------------------------


def test_authorization_code_pkce_s256(org):
    verifier, challenge = pkce_pair()
    r = authorize(org, challenge=challenge, state="xyz/42 ok")
    assert r.status_code in (301, 302, 303, 307), r.text[:300]
    loc, q = location_params(r)
    assert loc.startswith(org.redirect_uri + "?"), loc
    assert q["state"] == "xyz/42 ok"
    assert q["code"]
    t = exchange_code(org, q["code"], verifier)
    assert t.status_code == 200, t.text
    tok = t.json()
    assert_token_response(org, tok, refresh=True)
    assert urlparse(tok["id"]).path.endswith(f"/{org.org_id}/{org.user_id}")
    assert token_works(org, tok["access_token"])


def test_authorization_code_over_tls(org):
    verifier, challenge = pkce_pair()
    code = get_code(org, challenge=challenge, base=org.https_url, verify=org.ca_file)
    r = exchange_code(org, code, verifier, base=org.https_url, verify=org.ca_file)
    assert r.status_code == 200, r.text
    tok = r.json()
    assert_token_response(org, tok, base_url=org.https_url, refresh=True)
    assert token_works(org, tok["access_token"], base=org.https_url, verify=org.ca_file)


def test_authorization_code_rfc7636_vector_without_method(org):
    # §1.4 DISCREPANCY: emulator must accept an absent code_challenge_method (SHA-256 implied).
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
    assert pkce_pair(verifier)[1] == challenge
    code = get_code(org, challenge=challenge, method=None)
    r = exchange_code(org, code, verifier)
    assert r.status_code == 200, r.text
    assert token_works(org, r.json()["access_token"])


def test_authorization_code_is_single_use(org):
    verifier, challenge = pkce_pair()
    code = get_code(org, challenge=challenge)
    assert exchange_code(org, code, verifier).status_code == 200
    again = exchange_code(org, code, verifier)
    assert_oauth_error(again, "invalid_grant")


def test_pkce_verifier_mismatch(org):
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    code = get_code(org, challenge=challenge)
    r = exchange_code(org, code, other_verifier)
    # §1.4: invalid_request per docs; invalid_grant / "invalid code verifier" observed.
    assert_oauth_error(r, "invalid_request", "invalid_grant")


def test_pkce_verifier_missing(org):
    _, challenge = pkce_pair()
    code = get_code(org, challenge=challenge)
    r = exchange_code(org, code, None)
    assert_oauth_error(r, "invalid_grant", "invalid_request")


def test_token_exchange_with_wrong_redirect_uri(org):
    verifier, challenge = pkce_pair()
    code = get_code(org, challenge=challenge)
    r = exchange_code(org, code, verifier, redirect_uri="http://localhost:9999/elsewhere")
    assert_oauth_error(r, "invalid_grant", "redirect_uri_mismatch", "invalid_request")


def test_authorize_with_unregistered_redirect_uri_does_not_redirect_there(org):
    bad = "http://localhost:9999/evil"
    _, challenge = pkce_pair()
    r = authorize(org, redirect_uri=bad, challenge=challenge)
    loc = r.headers.get("Location", "")
    assert not loc.startswith(bad), "must never send the code/error to an unregistered callback"
    assert "code=" not in loc
    assert "redirect_uri_mismatch" in (loc + r.text), f"{r.status_code} {loc} {r.text[:300]}"


def test_authorize_unknown_client_id(org):
    r = requests.get(
        f"{org.url}/services/oauth2/authorize", params={"response_type": "code", "client_id": "nope", "redirect_uri": org.redirect_uri}, allow_redirects=False
    )
    loc = r.headers.get("Location", "")
    assert "code=" not in loc, "an unknown client must not get a code"


# ---------------------------------------------------------------------------------------------
# refresh_token (§1.5) and revocation (§1.10)
# ---------------------------------------------------------------------------------------------


def test_refresh_token_grant(org):
    tok = web_server_tokens(org)
    r = requests.post(
        token_url(org),
        data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"], "client_id": org.client_id, "client_secret": org.client_secret},
    )
    assert r.status_code == 200, r.text
    new = r.json()
    assert_token_response(org, new)
    assert new["access_token"] != tok["access_token"]
    assert token_works(org, new["access_token"])
    assert token_works(org, tok["access_token"]), "refreshing must not kill the old access token"


def test_refresh_token_with_bad_value(org):
    r = requests.post(
        token_url(org), data={"grant_type": "refresh_token", "refresh_token": "5Aep861-bogus", "client_id": org.client_id, "client_secret": org.client_secret}
    )
    body = assert_oauth_error(r, "invalid_grant")
    assert body.get("error_description"), body


def test_revoke_refresh_token_revokes_it_and_its_access_tokens(org):
    tok = web_server_tokens(org)
    assert token_works(org, tok["access_token"])
    r = requests.post(f"{org.url}/services/oauth2/revoke", data={"token": tok["refresh_token"]})
    assert r.status_code == 200, r.text
    again = requests.post(
        token_url(org),
        data={"grant_type": "refresh_token", "refresh_token": tok["refresh_token"], "client_id": org.client_id, "client_secret": org.client_secret},
    )
    assert_oauth_error(again, "invalid_grant")
    assert not token_works(org, tok["access_token"]), "revoking a refresh token also revokes its access tokens"


def test_revoke_access_token(org):
    tok = client_credentials_token(org)
    assert token_works(org, tok["access_token"])
    r = requests.post(f"{org.url}/services/oauth2/revoke", data={"token": tok["access_token"]}, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert r.status_code == 200, r.text
    assert not token_works(org, tok["access_token"])


def test_revoke_unknown_token(org):
    r = requests.post(f"{org.url}/services/oauth2/revoke", data={"token": "not-a-token"})
    assert r.status_code == 400, r.text
    assert ("invalid_token" in r.text) or ("unsupported_token_type" in r.text), r.text


# ---------------------------------------------------------------------------------------------
# JWT bearer (§1.6)
# ---------------------------------------------------------------------------------------------


def test_jwt_bearer(org):
    r = jwt_grant(org, make_jwt(org))
    assert r.status_code == 200, r.text
    tok = r.json()
    assert_token_response(org, tok, refresh=False, require_signature=False)
    assert urlparse(tok["id"]).path.endswith(f"/{org.org_id}/{org.user_id}")
    assert token_works(org, tok["access_token"])


def test_jwt_bearer_over_tls_with_test_audience(org):
    r = jwt_grant(org, make_jwt(org, aud="https://test.salesforce.com"), base=org.https_url, verify=org.ca_file)
    assert r.status_code == 200, r.text
    assert token_works(org, r.json()["access_token"], base=org.https_url, verify=org.ca_file)


def test_jwt_bearer_prn_claim(org):
    r = jwt_grant(org, make_jwt(org, use_prn=True))
    assert r.status_code == 200, r.text
    assert "refresh_token" not in r.json()


def test_jwt_bearer_exp_in_milliseconds_is_accepted(org):
    # §1.6: sfdx-core sends Date.now() + 300 (ms) and Salesforce accepts it (no upper bound on exp).
    r = jwt_grant(org, make_jwt(org, exp=int(time.time() * 1000) + 300))
    assert r.status_code == 200, r.text


def test_jwt_signed_by_another_key(org):
    r = jwt_grant(org, make_jwt(org, key_pem=other_private_key_pem()))
    assert_oauth_error(r, "invalid_grant")


def test_jwt_wrong_audience(org):
    r = jwt_grant(org, make_jwt(org, aud="https://evil.example.com"))
    assert_oauth_error(r, "invalid_grant")


def test_jwt_expired_assertion(org):
    r = jwt_grant(org, make_jwt(org, exp=int(time.time()) - 600))
    assert_oauth_error(r, "invalid_grant")


def test_jwt_unknown_user(org):
    r = jwt_grant(org, make_jwt(org, sub="nobody@nowhere.test"))
    assert_oauth_error(r, "invalid_grant")


def test_jwt_unknown_issuer(org):
    r = jwt_grant(org, make_jwt(org, iss="3MVG9unknown"))
    assert_oauth_error(r, "invalid_client_id", "invalid_grant", "invalid_client")


def test_jwt_garbage_assertion(org):
    r = jwt_grant(org, "not.a.jwt")
    assert_oauth_error(r, "invalid_grant")


# ---------------------------------------------------------------------------------------------
# client_credentials (§1.7)
# ---------------------------------------------------------------------------------------------


def test_client_credentials_in_body(org):
    tok = client_credentials_token(org)
    assert_token_response(org, tok, refresh=False)
    assert token_works(org, tok["access_token"])


def test_client_credentials_basic_auth_over_tls(org):
    basic = base64.b64encode(f"{org.client_id}:{org.client_secret}".encode()).decode()
    r = requests.post(token_url(org, org.https_url), data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}, verify=org.ca_file)
    assert r.status_code == 200, r.text
    tok = r.json()
    assert_token_response(org, tok, base_url=org.https_url, refresh=False)
    assert token_works(org, tok["access_token"], base=org.https_url, verify=org.ca_file)


def test_client_credentials_wrong_secret(org):
    r = requests.post(token_url(org), data={"grant_type": "client_credentials", "client_id": org.client_id, "client_secret": "wrong-secret"})
    assert_oauth_error(r, "invalid_client", "invalid_client_credentials")


def test_client_credentials_wrong_secret_basic(org):
    basic = base64.b64encode(f"{org.client_id}:wrong".encode()).decode()
    r = requests.post(token_url(org), data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"})
    assert_oauth_error(r, "invalid_client", "invalid_client_credentials")


def test_unknown_client_id(org):
    r = requests.post(token_url(org), data={"grant_type": "client_credentials", "client_id": "3MVG9nope", "client_secret": org.client_secret})
    assert_oauth_error(r, "invalid_client_id")


def test_unsupported_grant_type(org):
    r = requests.post(token_url(org), data={"grant_type": "urn:example:magic", "client_id": org.client_id, "client_secret": org.client_secret})
    assert_oauth_error(r, "unsupported_grant_type")


def test_token_endpoint_rejects_non_post(org):
    r = requests.get(token_url(org), params={"grant_type": "client_credentials", "client_id": org.client_id, "client_secret": org.client_secret})
    assert r.status_code >= 400
    assert "access_token" not in r.text


# ---------------------------------------------------------------------------------------------
# device flow (§1.8)
# ---------------------------------------------------------------------------------------------


def _device_start(org, multipart=False) -> dict:
    fields = {"response_type": "device_code", "client_id": org.client_id, "scope": "api refresh_token"}
    if multipart:
        r = requests.post(token_url(org), files={k: (None, v) for k, v in fields.items()})
    else:
        r = requests.post(token_url(org), data=fields)
    assert r.status_code == 200, r.text
    body = r.json()
    for k in ("device_code", "user_code", "verification_uri", "interval"):
        assert k in body, f"device start response lacks {k}: {body}"
    assert isinstance(body["interval"], int) and body["interval"] > 0
    return body


def _device_poll_until_success(org, start: dict, multipart=False) -> tuple[list[str], dict]:
    seen = []
    deadline = time.monotonic() + 4
    approved_via_uri = False
    while time.monotonic() < deadline:
        fields = {"grant_type": "device", "client_id": org.client_id, "code": start["device_code"]}
        if multipart:
            r = requests.post(token_url(org), files={k: (None, v) for k, v in fields.items()})
        else:
            r = requests.post(token_url(org), data=fields)
        if r.status_code == 200:
            return seen, r.json()
        body = assert_oauth_error(r, "authorization_pending", "slow_down", statuses=(400,))
        seen.append(body["error"])
        uri = start["verification_uri"]
        host = urlparse(uri).hostname
        if not approved_via_uri and host in ("127.0.0.1", "localhost"):
            # The emulator may approve on a GET of the verification URI (loopback only).
            requests.get(uri, params={"user_code": start["user_code"]}, allow_redirects=False, verify=org.ca_file)
            approved_via_uri = True
        time.sleep(0.2)
    raise AssertionError(f"device code never approved; poll results: {seen}")


def test_device_flow(org):
    start = _device_start(org)
    seen, tok = _device_poll_until_success(org, start)
    assert seen and seen[0] == "authorization_pending", f"first poll must be pending: {seen}"
    assert_token_response(org, tok, refresh=True)
    assert token_works(org, tok["access_token"])


def test_device_flow_multipart(org):
    # §1.8: sfdx-core posts multipart/form-data; emulator should accept both encodings.
    start = _device_start(org, multipart=True)
    _, tok = _device_poll_until_success(org, start, multipart=True)
    assert token_works(org, tok["access_token"])


def test_device_poll_unknown_code(org):
    r = requests.post(token_url(org), data={"grant_type": "device", "client_id": org.client_id, "code": "bogus"})
    body = assert_oauth_error(r)
    assert body["error"] != "authorization_pending"


# ---------------------------------------------------------------------------------------------
# introspection (§1.11), userinfo and identity URL (§1.12)
# ---------------------------------------------------------------------------------------------


def test_introspect_active_and_inactive(org):
    tok = client_credentials_token(org)
    r = requests.post(
        f"{org.url}/services/oauth2/introspect",
        data={"token": tok["access_token"], "token_type_hint": "access_token", "client_id": org.client_id, "client_secret": org.client_secret},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["active"] is True
    assert body.get("client_id") == org.client_id
    assert isinstance(body.get("exp"), int) and body["exp"] > time.time() - 5
    r = requests.post(f"{org.url}/services/oauth2/introspect", data={"token": "garbage", "client_id": org.client_id, "client_secret": org.client_secret})
    assert r.status_code == 200, r.text
    assert r.json()["active"] is False


def test_userinfo(org):
    r = requests.get(f"{org.url}/services/oauth2/userinfo", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    u = r.json()
    assert u["user_id"] == org.user_id
    assert u["organization_id"] == org.org_id
    assert u["preferred_username"] == org.username
    assert u["sub"].endswith(f"/id/{org.org_id}/{org.user_id}")
    assert u.get("active") is True


def test_userinfo_over_tls_and_bad_token(org):
    r = requests.get(f"{org.https_url}/services/oauth2/userinfo", headers=auth_headers(org), verify=org.ca_file)
    assert r.status_code == 200, r.text
    assert r.json()["user_id"] == org.user_id
    bad = requests.get(f"{org.url}/services/oauth2/userinfo", headers=auth_headers(org, "00Dxx!bogus"))
    assert bad.status_code in (401, 403)


def test_identity_url(org):
    tok = client_credentials_token(org)
    path = urlparse(tok["id"]).path  # the id host may be login.salesforce.com; the path is served by the org
    r = requests.get(org.url + path, headers=auth_headers(org, tok["access_token"]))
    assert r.status_code == 200, r.text
    ident = r.json()
    assert ident["user_id"] == org.user_id
    assert ident["organization_id"] == org.org_id
    assert ident["username"] == org.username
    assert ident["active"] is True
    assert ident["user_type"] == "STANDARD"
    assert "{version}" in ident["urls"]["rest"], ident["urls"]
    for k in ("rest", "sobjects", "query"):
        assert k in ident["urls"]
    r = requests.get(org.url + path, params={"version": "58.0"}, headers=auth_headers(org, tok["access_token"]))
    assert r.status_code == 200
    urls = r.json()["urls"]
    assert "{version}" not in urls["rest"] and "58.0" in urls["rest"], urls["rest"]


def test_identity_url_with_oauth_token_param(org):
    path = f"/id/{org.org_id}/{org.user_id}"
    r = requests.get(org.url + path, params={"oauth_token": org.access_token})
    assert r.status_code == 200, r.text
    assert r.json()["username"] == org.username


# ---------------------------------------------------------------------------------------------
# 401 on API calls (§1.13)
# ---------------------------------------------------------------------------------------------


def test_bad_token_gives_invalid_session_id(org):
    assert_session_invalid(requests.get(f"{api(org)}/limits", headers=auth_headers(org, "00Dxx0000000000!bogus")))
    assert_session_invalid(requests.get(f"{api(org)}/query", params={"q": "SELECT Id FROM Account"}, headers=auth_headers(org, "bogus")))
    assert_session_invalid(requests.get(f"{api(org)}/jobs/query", headers=auth_headers(org, "bogus")))


def test_missing_authorization_header(org):
    assert_session_invalid(requests.get(f"{api(org)}/sobjects"))


def test_legacy_oauth_authorization_scheme(org):
    r = requests.get(f"{api(org)}/limits", headers={"Authorization": f"OAuth {org.access_token}"})
    assert r.status_code == 200, r.text


def test_expired_token(fresh_org):
    org = fresh_org
    org.set_token_lifetime(1)
    try:
        tok = client_credentials_token(org)
        assert token_works(org, tok["access_token"])
        org.expire_sessions()  # its lifetime runs out now
        assert_session_invalid(requests.get(f"{api(org)}/limits", headers=auth_headers(org, tok["access_token"])))
        assert_session_invalid(requests.get(f"{api(org)}/sobjects/Account/describe", headers=auth_headers(org, tok["access_token"])))
    finally:
        org.set_token_lifetime(None)
    fresh = client_credentials_token(org)
    assert token_works(org, fresh["access_token"])


def test_jwt_without_typ_header(org):
    import jwt

    token = jwt.encode(
        {"iss": org.client_id, "sub": org.username, "aud": "https://login.salesforce.com", "exp": int(time.time()) + 180},
        org.private_key_pem,
        algorithm="RS256",
        headers={"typ": None},
    )
    assert "typ" not in jwt.get_unverified_header(token)
    r = jwt_grant(org, token)
    assert r.status_code == 200, r.text


def test_introspect_with_basic_auth(org):
    tok = client_credentials_token(org)
    basic = base64.b64encode(f"{org.client_id}:{org.client_secret}".encode()).decode()
    r = requests.post(
        f"{org.url}/services/oauth2/introspect",
        data={"token": tok["access_token"], "token_type_hint": "access_token"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["active"] is True
    assert body.get("username") == org.username
    assert body.get("sub", "").endswith(f"/id/{org.org_id}/{org.user_id}")
