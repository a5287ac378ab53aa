"""/composite and /composite/batch on the emulator: the documented request and response shapes,
references between subrequests, all-or-none rollback and halting; and aiosalesforce, an
independent client that uses both, against them."""

from __future__ import annotations

import asyncio

import pytest
import requests

from sfarrow.testing import Org


@pytest.fixture
def org():
    with Org(seed={"Account": 5}, https=False) as o:
        yield o


def post(org, path: str, body: dict) -> requests.Response:
    return requests.post(f"{org.api_url}/{path}", json=body, headers={"Authorization": f"Bearer {org.access_token}"}, timeout=10)


def names(org, prefix: str) -> list[str]:
    r = requests.get(
        f"{org.api_url}/query",
        params={"q": f"SELECT Name FROM Account WHERE Name LIKE '{prefix}%' ORDER BY Name"},
        headers={"Authorization": f"Bearer {org.access_token}"},
        timeout=10,
    )
    return [x["Name"] for x in r.json()["records"]]


def test_composite_with_references(org):
    v = f"/services/data/v{org.api_version}"
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": f"{v}/sobjects/Account", "referenceId": "NewAccount", "body": {"Name": "cmp-acme"}},
            {
                "method": "POST",
                "url": f"{v}/sobjects/Contact",
                "referenceId": "NewContact",
                "body": {"LastName": "Lee", "AccountId": "@{NewAccount.id}"},
            },
            {"method": "GET", "url": f"{v}/sobjects/Account/@{{NewAccount.id}}?fields=Name", "referenceId": "ReadBack"},
            {"method": "GET", "url": f"{v}/query?q=SELECT+Id+FROM+Contact+WHERE+AccountId='@{{NewAccount.id}}'", "referenceId": "Children"},
        ],
    }
    before = org.api_usage()[0]
    r = post(org, "composite", body)
    assert r.status_code == 200
    results = r.json()["compositeResponse"]
    assert [x["referenceId"] for x in results] == ["NewAccount", "NewContact", "ReadBack", "Children"]
    assert [x["httpStatusCode"] for x in results] == [201, 201, 200, 200]
    account_id = results[0]["body"]["id"]
    assert results[0]["body"]["success"] is True
    assert results[0]["httpHeaders"]["Location"] == f"{v}/sobjects/Account/{account_id}"
    assert results[2]["body"]["Name"] == "cmp-acme"
    assert results[3]["body"]["records"][0]["Id"] == results[1]["body"]["id"]
    assert org.api_usage()[0] == before + 1, "one API call in all"


def test_composite_all_or_none_rolls_back_everything(org):
    v = f"/services/data/v{org.api_version}"
    body = {
        "allOrNone": True,
        "compositeRequest": [
            {"method": "POST", "url": f"{v}/sobjects/Account", "referenceId": "A", "body": {"Name": "rb-one"}},
            {"method": "PATCH", "url": f"{v}/sobjects/Account/@{{A.id}}", "referenceId": "B", "body": {"Name": "rb-two"}},
            {"method": "POST", "url": f"{v}/sobjects/Contact", "referenceId": "C", "body": {"FirstName": "no last name"}},
            {"method": "POST", "url": f"{v}/sobjects/Account", "referenceId": "D", "body": {"Name": "rb-three"}},
        ],
    }
    results = post(org, "composite", body).json()["compositeResponse"]
    assert [x["httpStatusCode"] for x in results] == [400, 400, 400, 400]
    assert results[2]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    for i in (0, 1, 3):
        assert results[i]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert names(org, "rb-") == [], "the account created and renamed before the failure was rolled back"


def test_composite_without_all_or_none_skips_what_depends_on_a_failure(org):
    v = f"/services/data/v{org.api_version}"
    body = {
        "compositeRequest": [
            {"method": "POST", "url": f"{v}/sobjects/Contact", "referenceId": "Bad", "body": {"FirstName": "x"}},
            {"method": "PATCH", "url": f"{v}/sobjects/Contact/@{{Bad.id}}", "referenceId": "Dependent", "body": {"LastName": "y"}},
            {"method": "POST", "url": f"{v}/sobjects/Account", "referenceId": "Fine", "body": {"Name": "dep-fine"}},
        ],
    }
    results = post(org, "composite", body).json()["compositeResponse"]
    assert [x["httpStatusCode"] for x in results] == [400, 400, 201]
    assert results[1]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert names(org, "dep-") == ["dep-fine"]


@pytest.mark.parametrize(
    "bad",
    [
        {"compositeRequest": []},
        {"compositeRequest": [{"method": "GET", "url": "/services/data/v58.0/limits"}]},
        {"compositeRequest": [{"method": "FETCH", "url": "/services/data/v58.0/limits", "referenceId": "x"}]},
        {"compositeRequest": [{"method": "GET", "url": "/services/data/v58.0/limits", "referenceId": "a-b"}]},
        {"compositeRequest": [{"method": "GET", "url": "/services/data/v58.0/limits", "referenceId": "r"}] * 2},
        {"compositeRequest": [{"method": "GET", "url": "/services/data/v58.0/limits", "referenceId": f"r{i}"} for i in range(26)]},
        {"compositeRequest": [{"method": "GET", "url": "/services/data/v58.0/limits", "referenceId": "r", "httpHeaders": {"Authorization": "x"}}]},
    ],
)
def test_malformed_composite_requests_are_400(org, bad):
    r = post(org, "composite", bad)
    assert r.status_code == 400 and isinstance(r.json(), list) and r.json()[0]["errorCode"]


def test_batch_runs_independent_subrequests(org):
    body = {
        "batchRequests": [
            {"method": "POST", "url": f"v{org.api_version}/sobjects/Account", "richInput": {"Name": "bat-one"}},
            {"method": "GET", "url": f"v{org.api_version}/sobjects/Account/001000000000000AAA"},
            {"method": "GET", "url": f"v{org.api_version}/query?q=SELECT+COUNT()+FROM+Account"},
        ]
    }
    r = post(org, "composite/batch", body)
    assert r.status_code == 200
    out = r.json()
    assert out["hasErrors"] is True
    assert [x["statusCode"] for x in out["results"]] == [201, 404, 200]
    assert out["results"][0]["result"]["success"] is True
    assert out["results"][2]["result"]["totalSize"] == 6
    assert names(org, "bat-") == ["bat-one"]


def test_batch_halts_on_error_when_asked(org):
    body = {
        "haltOnError": True,
        "batchRequests": [
            {"method": "POST", "url": f"v{org.api_version}/sobjects/Contact", "richInput": {"FirstName": "x"}},
            {"method": "POST", "url": f"v{org.api_version}/sobjects/Account", "richInput": {"Name": "halt-never"}},
        ],
    }
    out = post(org, "composite/batch", body).json()
    assert [x["statusCode"] for x in out["results"]] == [400, 412]
    assert out["results"][1]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"
    assert names(org, "halt-") == []


def test_aiosalesforce_composite_and_batch(org):
    import httpx
    from aiosalesforce import Salesforce
    from aiosalesforce.auth import ClientCredentialsFlow

    class ToEmulator(httpx.AsyncBaseTransport):
        """aiosalesforce takes only Salesforce host names: this sends them to the emulator,
        as a hosts-file entry would."""

        def __init__(self, url: str) -> None:
            self.inner = httpx.AsyncHTTPTransport()
            self.target = httpx.URL(url)

        async def handle_async_request(self, request):
            request.url = request.url.copy_with(scheme=self.target.scheme, host=self.target.host, port=self.target.port)
            return await self.inner.handle_async_request(request)

    async def main():
        async with httpx.AsyncClient(transport=ToEmulator(org.url)) as client:
            sf = Salesforce(
                client,
                base_url="https://sfarrow-test.my.salesforce.com",
                auth=ClientCredentialsFlow(org.client_id, org.client_secret),
                version=org.api_version,
            )
            async with sf.composite(all_or_none=True) as c:
                account = c.sobject.create("Account", {"Name": "aio-acme"})
                # The reference written out: aiosalesforce's Reference object serialises without
                # its @{...} when orjson is installed.
                contact = c.sobject.create("Contact", {"LastName": "Aio", "AccountId": f"@{{{account.reference_id}.id}}"})
                found = c.query("SELECT Id, Name FROM Account WHERE Name = 'aio-acme'")
            async with sf.composite.batch(halt_on_error=False) as b:
                count = b.query("SELECT COUNT() FROM Contact")
            return account.id, contact.id, found.records, count.response

    account_id, contact_id, records, count = asyncio.run(main())
    assert account_id.startswith("001") and contact_id.startswith("003")
    assert [r["Name"] for r in records] == ["aio-acme"]
    assert count["statusCode"] == 200 and count["result"]["totalSize"] >= 1
