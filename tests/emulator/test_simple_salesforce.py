"""Independent-client proof: simple-salesforce (https only) against the emulator over TLS."""

from __future__ import annotations

import csv
import io
import os
import re

import pytest
import requests
from sf_helpers import query_ok, unique_tag
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

WAIT = 0.1  # simple-salesforce sleeps `wait` seconds before its first poll; keep it short


@pytest.fixture(scope="module")
def big_org(org):
    org.seed("Lead", 2100)  # > 2000 → query_all needs several pages at the default batch size
    return org


@pytest.fixture(scope="module")
def sf(org):
    session = requests.Session()
    session.verify = org.ca_file
    # REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE in the environment would override session.verify
    session.trust_env = False
    return Salesforce(instance_url=org.https_url, session_id=org.access_token, version=org.api_version, session=session)


def read_csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_urls_are_https_loopback(sf, org):
    assert sf.base_url == f"{org.https_url}/services/data/v{org.api_version}/"
    assert sf.bulk2_url.startswith(org.https_url)


def test_query(sf, org):
    res = sf.query("SELECT Id, Name FROM Account")
    assert res["totalSize"] == org.count("Account")
    assert res["done"] is True
    assert all(r["attributes"]["type"] == "Account" and r["Id"].startswith("001") for r in res["records"])
    assert sf.api_usage["api-usage"].total > 0


def test_query_all_default_batch(sf, big_org):
    n = big_org.count("Lead")
    assert n > 2000
    first = sf.query("SELECT Id FROM Lead")
    assert first["done"] is False and len(first["records"]) <= 2000 and first["totalSize"] == n
    res = sf.query_all("SELECT Id, LastName FROM Lead")
    ids = [r["Id"] for r in res["records"]]
    assert len(ids) == n == len(set(ids))


def test_query_all_batch_size_header(sf, org):
    n = org.count("Contact")
    org.clear_requests()
    res = sf.query_all("SELECT Id FROM Contact", headers={"Sforce-Query-Options": "batchSize=200"})
    ids = [r["Id"] for r in res["records"]]
    assert len(ids) == n == len(set(ids))
    more = [e for e in org.requests() if re.search(r"/query/[^/]+$", e["path"])]
    assert len(more) == -(-n // 200) - 1, "one nextRecordsUrl fetch per extra page"


def test_query_all_include_deleted(sf, org):
    tag = unique_tag("SD")
    rid = sf.Account.create({"Name": tag})["id"]
    sf.Account.delete(rid)
    live = sf.query_all(f"SELECT Id FROM Account WHERE Name = '{tag}'")
    assert live["records"] == []
    deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Account WHERE Name = '{tag}'", include_deleted=True)
    assert [(r["Id"], r["IsDeleted"]) for r in deleted["records"]] == [(rid, True)]


def test_describe(sf):
    d = sf.describe()
    names = {s["name"] for s in d["sobjects"]}
    assert {"Account", "Contact", "Opportunity", "Lead", "Case", "User"} <= names
    acc = sf.Account.describe()
    assert acc["name"] == "Account"
    fields = {f["name"]: f for f in acc["fields"]}
    assert fields["Ext_Id__c"]["externalId"] is True
    assert fields["BillingAddress"]["type"] == "address"


def test_limits(sf):
    lim = sf.limits()
    assert lim["DailyApiRequests"]["Max"] >= lim["DailyApiRequests"]["Remaining"] >= 0


def test_sobject_crud_and_upsert(sf, org):
    tag = unique_tag("SS")
    res = sf.Account.create({"Name": tag, "NumberOfEmployees": 3})
    assert res["success"] is True and res["errors"] == []
    rid = res["id"]
    got = sf.Account.get(rid)
    assert got["Name"] == tag and got["NumberOfEmployees"] == 3
    assert sf.Account.update(rid, {"NumberOfEmployees": 4}) == 204
    assert sf.Account.get(rid)["NumberOfEmployees"] == 4

    ext = f"{tag}-X"
    status = sf.Account.upsert(f"Ext_Id__c/{ext}", {"Name": f"{tag}-ups"})
    assert status == 201
    by_ext = sf.Account.get_by_custom_id("Ext_Id__c", ext)
    assert by_ext["Name"] == f"{tag}-ups"
    status = sf.Account.upsert(f"Ext_Id__c/{ext}", {"Name": f"{tag}-ups2"})
    assert status in (200, 204)
    assert sf.Account.get_by_custom_id("Ext_Id__c", ext)["Name"] == f"{tag}-ups2"
    assert query_ok(org, f"SELECT COUNT() FROM Account WHERE Ext_Id__c = '{ext}'")["totalSize"] == 1

    assert sf.Account.delete(rid) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(rid)


def test_error_mapping(sf):
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.Account.create({"Description": "no name"})
    assert exc.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as exc:
        sf.query("SELECT Nope FROM Account")
    assert exc.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_bulk2_download(sf, org, tmp_path):
    n = org.count("Account")
    results = sf.bulk2.Account.download("SELECT Id, Name, CreatedDate FROM Account", path=str(tmp_path), max_records=10, wait=WAIT)
    assert len(results) >= -(-n // 10)
    ids = []
    for res in results:
        assert os.path.isfile(res["file"])
        with open(res["file"], newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == res["number_of_records"] <= 10
        for row in rows:
            assert list(row) == ["Id", "Name", "CreatedDate"]
            assert row["Id"].startswith("001")
        ids += [r["Id"] for r in rows]
    assert len(ids) == n == len(set(ids))
    assert results[-1]["locator"] == ""


def test_bulk2_query_generator(sf, org):
    pages = list(sf.bulk2.Contact.query("SELECT Id, LastName FROM Contact", max_records=25, wait=WAIT))
    rows = [r for p in pages for r in read_csv_rows(p)]
    assert len(rows) == org.count("Contact")
    assert len(pages) >= 2


def test_bulk2_insert_upsert_delete(sf, org, tmp_path):
    tag = unique_tag("SB")
    ins = tmp_path / "insert.csv"
    ins.write_text("Name,Ext_Id__c,NumberOfEmployees\n" + "".join(f"{tag}-{i},{tag}E{i},{i}\n" for i in range(5)))
    before = org.count("Account")
    res = sf.bulk2.Account.insert(csv_file=str(ins), wait=WAIT)
    assert len(res) == 1
    assert res[0]["numberRecordsProcessed"] == 5 and res[0]["numberRecordsFailed"] == 0
    assert res[0]["numberRecordsTotal"] == 5
    assert org.count("Account") == before + 5

    ok = read_csv_rows(sf.bulk2.Account.get_successful_records(res[0]["job_id"]))
    assert len(ok) == 5 and all(r["sf__Created"] == "true" for r in ok)
    assert read_csv_rows(sf.bulk2.Account.get_failed_records(res[0]["job_id"])) == []
    assert read_csv_rows(sf.bulk2.Account.get_unprocessed_records(res[0]["job_id"])) == []

    ups = tmp_path / "upsert.csv"
    ups.write_text(f"Ext_Id__c,NumberOfEmployees\n{tag}E0,100\n{tag}E1,101\n{tag}NEW,7\n")
    res = sf.bulk2.Account.upsert(csv_file=str(ups), external_id_field="Ext_Id__c", wait=WAIT)
    assert res[0]["numberRecordsProcessed"] == 3
    # the new row has no Name → REQUIRED_FIELD_MISSING
    assert res[0]["numberRecordsFailed"] == 1
    failed = read_csv_rows(sf.bulk2.Account.get_failed_records(res[0]["job_id"]))
    assert len(failed) == 1 and failed[0]["Ext_Id__c"] == f"{tag}NEW"
    assert failed[0]["sf__Error"].startswith("REQUIRED_FIELD_MISSING")
    ok = read_csv_rows(sf.bulk2.Account.get_successful_records(res[0]["job_id"]))
    assert sorted(r["sf__Created"] for r in ok) == ["false", "false"]
    emp = {r["Ext_Id__c"]: r["NumberOfEmployees"] for r in sf.query(f"SELECT Ext_Id__c, NumberOfEmployees FROM Account WHERE Name LIKE '{tag}-%'")["records"]}
    assert emp[f"{tag}E0"] == 100 and emp[f"{tag}E1"] == 101 and emp[f"{tag}E2"] == 2

    ids = [r["Id"] for r in sf.query(f"SELECT Id FROM Account WHERE Name LIKE '{tag}-%'")["records"]]
    dl = tmp_path / "delete.csv"
    dl.write_text("Id\n" + "\n".join(ids[:3]) + "\n")
    res = sf.bulk2.Account.delete(csv_file=str(dl), wait=WAIT)
    assert res[0]["numberRecordsProcessed"] == 3 and res[0]["numberRecordsFailed"] == 0
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Name LIKE '{tag}-%'")["totalSize"] == 2


def test_bulk2_insert_records_with_failures(sf, org):
    tag = unique_tag("SR")
    res = sf.bulk2.Contact.insert(records=[{"LastName": f"{tag}-a", "Email": "a@example.com"}, {"LastName": "", "Email": "b@example.com"}], wait=WAIT)
    assert res[0]["numberRecordsProcessed"] == 2 and res[0]["numberRecordsFailed"] == 1
    all_recs = sf.bulk2.Contact.get_all_ingest_records(res[0]["job_id"])
    assert len(all_recs["successfulRecords"]) == 1
    assert len(all_recs["failedRecords"]) == 1
    assert all_recs["failedRecords"][0]["Email"] == "b@example.com"
    assert all_recs["unprocessedRecords"] == []


def test_bulk2_hard_delete(sf, org):
    tag = unique_tag("SH")
    rid = sf.Account.create({"Name": tag})["id"]
    res = sf.bulk2.Account.hard_delete(records=[{"Id": rid}], wait=WAIT)
    assert res[0]["numberRecordsFailed"] == 0
    assert sf.query_all(f"SELECT Id FROM Account WHERE Name = '{tag}'", include_deleted=True)["records"] == []


def test_batch_size_is_capped_at_2000(sf, big_org):
    res = sf.query("SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=5000"})
    assert len(res["records"]) <= 2000 and res["done"] is False
