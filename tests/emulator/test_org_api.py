"""The Python face of the emulator: seeding, custom schema, loading Arrow data, controls, CLI."""

from __future__ import annotations

import datetime as dt
import decimal
import subprocess
import sys
import time

import pyarrow as pa
import pytest
import requests

from sfarrow.testing import Org


def soql(org: Org, q: str) -> list[dict]:
    r = requests.get(f"{org.api_url}/query", params={"q": q}, headers={"Authorization": f"Bearer {org.access_token}"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["done"], "test queries fit in one page"
    return body["records"]


def test_seeding_is_deterministic():
    fields = "Id, Name, Ext_Id__c, AnnualRevenue, BillingCity, Regions__c, Last_Contacted_At__c, Preferred_Call_Time__c"
    with Org(seed={"Account": 40}) as a, Org(seed={"Account": 40}) as b:
        ra = soql(a, f"SELECT {fields} FROM Account ORDER BY Ext_Id__c")
        rb = soql(b, f"SELECT {fields} FROM Account ORDER BY Ext_Id__c")
    strip = lambda rows: [{k: v for k, v in r.items() if k != "attributes"} for r in rows]  # noqa: E731
    assert len(ra) == 40
    assert strip(ra) == strip(rb)
    assert len({r["Id"] for r in ra}) == 40


def test_seeded_children_point_at_existing_parents():
    with Org(seed={"Account": 10, "Contact": 50}) as org:
        accounts = {r["Id"] for r in soql(org, "SELECT Id FROM Account")}
        contacts = soql(org, "SELECT AccountId FROM Contact")
    linked = [c["AccountId"] for c in contacts if c["AccountId"]]
    assert len(linked) > 30
    assert set(linked) <= accounts


def test_count_and_recycle_bin():
    with Org(seed={"Lead": 5}) as org:
        lead = soql(org, "SELECT Id FROM Lead LIMIT 1")[0]["Id"]
        r = requests.delete(f"{org.api_url}/sobjects/Lead/{lead}", headers={"Authorization": f"Bearer {org.access_token}"})
        assert r.status_code == 204
        assert org.count("Lead") == 4
        assert org.count("Lead", include_deleted=True) == 5
        with pytest.raises(ValueError, match="Nope"):
            org.count("Nope")


def test_define_object_and_field_show_in_describe_and_accept_writes():
    with Org() as org:
        org.define_object(
            "Invoice__c",
            [
                {"name": "Amount__c", "type": "currency", "precision": 18, "scale": 2},
                {"name": "Code__c", "type": "string", "length": 20, "externalId": True, "unique": True},
                {"name": "Account__c", "type": "reference", "referenceTo": "Account", "childRelationship": "Invoices__r"},
            ],
        )
        org.define_field("Account", {"name": "Tier__c", "type": "picklist", "picklistValues": ["Gold", "Silver"]})
        h = {"Authorization": f"Bearer {org.access_token}"}
        d = requests.get(f"{org.api_url}/sobjects/Invoice__c/describe", headers=h).json()
        fields = {f["name"]: f for f in d["fields"]}
        assert d["custom"] is True and d["keyPrefix"].startswith("a0")
        assert fields["Amount__c"]["type"] == "currency" and fields["Amount__c"]["scale"] == 2
        assert fields["Code__c"]["externalId"] is True and fields["Code__c"]["length"] == 20
        assert fields["Account__c"]["relationshipName"] == "Account__r"
        acct = requests.post(f"{org.api_url}/sobjects/Account", json={"Name": "Parent", "Tier__c": "Gold"}, headers=h).json()["id"]
        r = requests.post(
            f"{org.api_url}/sobjects/Invoice__c",
            json={"Name": "INV-1", "Amount__c": 12.5, "Code__c": "C1", "Account__c": acct},
            headers=h,
        )
        assert r.status_code == 201, r.text
        rows = soql(org, "SELECT Name, Tier__c, (SELECT Code__c, Amount__c, Account__r.Name FROM Invoices__r) FROM Account")
        assert rows[0]["Tier__c"] == "Gold"
        inv = rows[0]["Invoices__r"]["records"][0]
        assert inv["Code__c"] == "C1" and inv["Amount__c"] == 12.5 and inv["Account__r"]["Name"] == "Parent"


@pytest.mark.parametrize(
    "name, fields, message",
    [
        ("Invoice", [], "end with __c"),
        ("Thing__c", [{"name": "Bad", "type": "string"}], "end with __c"),
        ("Thing__c", [{"name": "X__c", "type": "nonsense"}], "unknown type"),
        ("Thing__c", [{"name": "R__c", "type": "reference"}], "referenceTo"),
        ("Thing__c", [{"name": "R__c", "type": "reference", "referenceTo": "Nope__c"}], "Nope__c"),
    ],
)
def test_define_object_rejects_bad_definitions(name, fields, message):
    with Org() as org:
        with pytest.raises(ValueError, match=message):
            org.define_object(name, fields)


def test_load_arrow_with_every_type_and_read_it_back():
    table = pa.table(
        {
            "Name": ['Ünïcode, "quoted"\nline', "Plain"],
            "NumberOfEmployees": pa.array([12, None], pa.int32()),
            "AnnualRevenue": pa.array([decimal.Decimal("1234567"), decimal.Decimal("0")], pa.decimal128(18, 0)),
            "Health_Score__c": [0.125, -3.5],
            "Is_Partner__c": [True, False],
            "SLA_Expiration__c": pa.array([dt.date(2030, 12, 31), dt.date(1999, 1, 1)], pa.date32()),
            "Last_Contacted_At__c": pa.array([dt.datetime(2024, 2, 29, 23, 59, 58, 123000, tzinfo=dt.timezone.utc), None], pa.timestamp("ms", tz="UTC")),
            "Preferred_Call_Time__c": pa.array([dt.time(9, 30), dt.time(17, 0, 1)], pa.time32("ms")),
            "Total_Units__c": pa.array([9_007_199_254_740_993, -1], pa.int64()),
            "Ext_Id__c": ["L-1", "L-2"],
        }
    )
    with Org() as org:
        ids = org.load("Account", table)
        assert len(ids) == 2 and all(i.startswith("001") and len(i) == 18 for i in ids)
        rows = soql(
            org,
            "SELECT Name, NumberOfEmployees, AnnualRevenue, Health_Score__c, Is_Partner__c, SLA_Expiration__c, "
            "Last_Contacted_At__c, Preferred_Call_Time__c, Total_Units__c FROM Account ORDER BY Ext_Id__c",
        )
    a, b = rows
    assert a["Name"] == 'Ünïcode, "quoted"\nline'
    assert a["NumberOfEmployees"] == 12 and b["NumberOfEmployees"] is None
    assert a["AnnualRevenue"] == 1234567.0
    assert a["Health_Score__c"] == 0.125 and b["Health_Score__c"] == -3.5
    assert a["Is_Partner__c"] is True and b["Is_Partner__c"] is False
    assert a["SLA_Expiration__c"] == "2030-12-31" and b["SLA_Expiration__c"] == "1999-01-01"
    assert a["Last_Contacted_At__c"] == "2024-02-29T23:59:58.123+0000" and b["Last_Contacted_At__c"] is None
    assert a["Preferred_Call_Time__c"] == "09:30:00.000Z" and b["Preferred_Call_Time__c"] == "17:00:01.000Z"
    assert a["Total_Units__c"] == 9_007_199_254_740_993


def test_load_pandas_polars_and_dicts_with_parent_external_ids():
    import pandas as pd
    import polars as pl

    with Org() as org:
        org.load("Account", [{"Name": "Parent", "Ext_Id__c": "P-1"}])
        org.load("Contact", pd.DataFrame({"LastName": ["A"], "Account.Ext_Id__c": ["P-1"]}))
        org.load("Contact", pl.DataFrame({"LastName": ["B"], "Account.Ext_Id__c": ["P-1"]}))
        rows = soql(org, "SELECT LastName, Account.Name FROM Contact ORDER BY LastName")
    assert [(r["LastName"], r["Account"]["Name"]) for r in rows] == [("A", "Parent"), ("B", "Parent")]


def test_load_errors_name_the_problem():
    with Org() as org:
        with pytest.raises(ValueError, match="Nope__c"):
            org.load("Account", pa.table({"Name": ["x"], "Nope__c": [1]}))
        with pytest.raises(ValueError, match="REQUIRED_FIELD_MISSING"):
            org.load("Account", pa.table({"Phone": ["1"]}))
        with pytest.raises(ValueError, match="not found"):
            org.load("Contact", pa.table({"LastName": ["x"], "Account.Ext_Id__c": ["missing"]}))
        with pytest.raises(TypeError, match="cannot load"):
            org.load("Account", 42)
        assert org.count("Account") == 0


def test_repr_has_no_secrets_and_close_stops_it():
    org = Org()
    text = repr(org) + repr(org._emulator)
    for secret in (org.client_secret, org.access_token, org.private_key_pem):
        assert secret not in text
    url = org.url
    org.close()
    with pytest.raises(requests.ConnectionError):
        requests.get(f"{url}/services/data/", timeout=2)
    with pytest.raises(RuntimeError, match="stopped"):
        org.seed("Account", 1)


def test_fault_arguments_are_checked():
    with Org() as org:
        with pytest.raises(ValueError, match="unknown fault"):
            org.inject_fault("explode")
        with pytest.raises(ValueError, match="between 0 and 1"):
            org.inject_fault("503", rate=2.0)
        with pytest.raises(ValueError, match="from 1"):
            org.inject_fault("503", nth=0)


def test_cli_serve_seeds_and_answers():
    proc = subprocess.Popen(
        [sys.executable, "-m", "sfarrow.testing", "serve", "--no-https", "--seed", "Account=25", "--duration", "20"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = {}
        deadline = time.time() + 15
        while time.time() < deadline:
            line = proc.stdout.readline()
            if line.startswith("serving"):
                break
            key, _, value = line.strip().partition(" ")
            lines[key] = value.strip()
        url, token = lines["instance_url"], lines["access_token"]
        r = requests.get(
            f"{url}/services/data/v58.0/query",
            params={"q": "SELECT COUNT() FROM Account"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert r.json()["totalSize"] == 25
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_cli_rejects_bad_seed_argument():
    r = subprocess.run([sys.executable, "-m", "sfarrow.testing", "serve", "--seed", "Account"], capture_output=True, text=True)
    assert r.returncode == 2
    assert "OBJECT=COUNT" in r.stderr
