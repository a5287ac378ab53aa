"""§3 REST query / queryAll and the §2.5 JSON value formats."""

from __future__ import annotations

import pytest
import requests
from sf_helpers import (
    DATE_RE,
    ID18_RE,
    REST_DATETIME_RE,
    api,
    assert_api_error,
    auth_headers,
    create,
    delete,
    query,
    query_all_pages,
    query_ok,
    unique_tag,
)


@pytest.fixture(scope="module")
def qdata(org):
    """A small, known dataset tagged so that seed data never matches the filters."""
    tag = unique_tag("QT")
    acc = {}
    for key, name, emp, rev, city in [
        ("A", "Alpha", 10, 1000.5, "Paris"),
        ("B", "Beta", 20, 2000, "London"),
        ("G", "Gamma", 30, None, None),
        ("D", "Delta", 40, 5000, "Paris"),
    ]:
        fields = {"Name": f"{tag}-{name}", "NumberOfEmployees": emp, "Ext_Id__c": f"{tag}{key}"}
        if rev is not None:
            fields["AnnualRevenue"] = rev
        if city is not None:
            fields["BillingCity"] = city
        acc[key] = create(org, "Account", fields)
    con = {
        "one": create(org, "Contact", {"LastName": f"{tag}-One", "AccountId": acc["A"], "Birthdate": "1990-05-17"}),
        "two": create(org, "Contact", {"LastName": f"{tag}-Two", "AccountId": acc["A"]}),
        "three": create(org, "Contact", {"LastName": f"{tag}-Three"}),
    }
    opp = create(org, "Opportunity", {"Name": f"{tag}-Opp", "StageName": "Prospecting", "CloseDate": "2024-03-15", "Amount": 1234.5, "AccountId": acc["B"]})
    return {"tag": tag, "acc": acc, "con": con, "opp": opp}


def names(result) -> list[str]:
    return [r["Name"] for r in result["records"]]


def short(qdata, result) -> list[str]:
    return [n.split("-", 1)[1] for n in names(result)]


# ---------------------------------------------------------------------------------------------
# response shape and value formats (§3.2, §2.5)
# ---------------------------------------------------------------------------------------------


def test_response_shape_and_field_order(org, qdata):
    res = query_ok(org, f"SELECT Name, Id, NumberOfEmployees FROM Account WHERE Ext_Id__c = '{qdata['tag']}A'")
    assert res["totalSize"] == 1 and res["done"] is True
    assert "nextRecordsUrl" not in res
    rec = res["records"][0]
    assert list(rec) == ["attributes", "Name", "Id", "NumberOfEmployees"], list(rec)
    assert rec["attributes"]["type"] == "Account"
    assert rec["attributes"]["url"] == f"/services/data/v{org.api_version}/sobjects/Account/{qdata['acc']['A']}"
    assert rec["Id"] == qdata["acc"]["A"] and ID18_RE.match(rec["Id"])


def test_field_names_case_insensitive_canonical_in_results(org, qdata):
    res = query_ok(org, f"select id, name, numberofemployees from account where ext_id__c = '{qdata['tag']}A'")
    assert list(res["records"][0]) == ["attributes", "Id", "Name", "NumberOfEmployees"]


def test_value_formats(org, qdata):
    res = query_ok(
        org,
        "SELECT Id, Name, CloseDate, Amount, IsDeleted, IsClosed, CreatedDate, LastModifiedDate, "
        f"Description, AccountId FROM Opportunity WHERE Id = '{qdata['opp']}'",
    )
    rec = res["records"][0]
    assert rec["CloseDate"] == "2024-03-15" and DATE_RE.match(rec["CloseDate"])
    assert rec["Amount"] == 1234.5 and isinstance(rec["Amount"], float)
    assert rec["IsDeleted"] is False
    assert rec["IsClosed"] in (True, False)
    assert REST_DATETIME_RE.match(rec["CreatedDate"]), rec["CreatedDate"]
    assert REST_DATETIME_RE.match(rec["LastModifiedDate"]), rec["LastModifiedDate"]
    assert "Description" in rec and rec["Description"] is None
    assert rec["AccountId"] == qdata["acc"]["B"] and len(rec["AccountId"]) == 18


def test_int_and_null_numbers(org, qdata):
    res = query_ok(
        org, f"SELECT Name, NumberOfEmployees, AnnualRevenue, BillingCity FROM Account WHERE Ext_Id__c IN ('{qdata['tag']}A', '{qdata['tag']}G') ORDER BY Name"
    )
    a, g = res["records"]
    assert a["NumberOfEmployees"] == 10 and isinstance(a["NumberOfEmployees"], int)
    assert a["AnnualRevenue"] == 1000.5
    assert g["AnnualRevenue"] is None and g["BillingCity"] is None
    assert "AnnualRevenue" in g and "BillingCity" in g


def test_compound_address(org, qdata):
    res = query_ok(org, f"SELECT Id, BillingAddress FROM Account WHERE Ext_Id__c IN ('{qdata['tag']}A', '{qdata['tag']}G') ORDER BY NumberOfEmployees")
    a, g = res["records"]
    addr = a["BillingAddress"]
    assert isinstance(addr, dict)
    for k in ("street", "city", "state", "postalCode", "country", "latitude", "longitude", "geocodeAccuracy"):
        assert k in addr, f"address lacks {k}: {addr}"
    assert addr["city"] == "Paris"
    assert g["BillingAddress"] is None, "whole compound is null when all parts are empty"


def test_parent_relationship_paths(org, qdata):
    res = query_ok(org, f"SELECT Id, Name, Owner.Name, Owner.Id FROM Account WHERE Id = '{qdata['acc']['A']}'")
    owner = res["records"][0]["Owner"]
    assert isinstance(owner, dict)
    assert list(owner)[0] == "attributes"
    assert owner["attributes"]["type"] == "User"
    assert owner["attributes"]["url"].endswith(f"/sobjects/User/{org.user_id}")
    assert owner["Id"] == org.user_id
    users = query_ok(org, f"SELECT Name FROM User WHERE Id = '{org.user_id}'")
    assert owner["Name"] == users["records"][0]["Name"]


def test_parent_two_levels_and_null_parent(org, qdata):
    res = query_ok(
        org,
        "SELECT LastName, Account.Name, Account.Owner.Username FROM Contact "
        f"WHERE Id IN ('{qdata['con']['one']}', '{qdata['con']['three']}') ORDER BY LastName",
    )
    one, three = res["records"]
    assert one["LastName"].endswith("-One")
    assert one["Account"]["attributes"]["type"] == "Account"
    assert one["Account"]["Name"] == f"{qdata['tag']}-Alpha"
    assert one["Account"]["Owner"]["Username"] == org.username
    assert three["Account"] is None, "a null parent is null, not an object"


def test_child_subquery(org, qdata):
    res = query_ok(
        org,
        f"SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName) FROM Account WHERE Id IN ('{qdata['acc']['A']}', '{qdata['acc']['B']}') ORDER BY Name",
    )
    a, b = res["records"]
    kids = a["Contacts"]
    assert kids["totalSize"] == 2 and kids["done"] is True
    assert [k["LastName"] for k in kids["records"]] == [f"{qdata['tag']}-One", f"{qdata['tag']}-Two"]
    assert kids["records"][0]["attributes"]["type"] == "Contact"
    assert b["Contacts"] is None, "no children → null"


def test_count(org, qdata):
    res = query_ok(org, f"SELECT COUNT() FROM Account WHERE Name LIKE '{qdata['tag']}-%'")
    assert res["totalSize"] == 4 and res["done"] is True and res["records"] == []
    total = query_ok(org, "SELECT COUNT() FROM Account")["totalSize"]
    assert total == org.count("Account")


def test_count_id_aggregate(org, qdata):
    res = query_ok(org, f"SELECT COUNT(Id) FROM Account WHERE Name LIKE '{qdata['tag']}-%'")
    rec = res["records"][0]
    assert rec["attributes"]["type"] == "AggregateResult"
    assert rec["expr0"] == 4


# ---------------------------------------------------------------------------------------------
# WHERE / ORDER BY / LIMIT / OFFSET
# ---------------------------------------------------------------------------------------------


def where(org, qdata, cond: str, order="Name") -> list[str]:
    res = query_ok(org, f"SELECT Name FROM Account WHERE Name LIKE '{qdata['tag']}-%' AND ({cond}) ORDER BY {order}")
    return [n.split("-", 1)[1] for n in names(res)]


def test_where_and_or_not(org, qdata):
    assert where(org, qdata, "NumberOfEmployees > 15 AND BillingCity = 'Paris'") == ["Delta"]
    assert where(org, qdata, "BillingCity = 'London' OR NumberOfEmployees = 10") == ["Alpha", "Beta"]
    assert where(org, qdata, "NOT NumberOfEmployees > 25") == ["Alpha", "Beta"]
    assert where(org, qdata, "(NumberOfEmployees < 15 OR NumberOfEmployees > 35) AND BillingCity = 'Paris'") == ["Alpha", "Delta"]
    assert where(org, qdata, "NumberOfEmployees >= 20 AND NumberOfEmployees <= 30") == ["Beta", "Gamma"]
    assert where(org, qdata, "NumberOfEmployees != 20") == ["Alpha", "Delta", "Gamma"]


def test_like(org, qdata):
    tag = qdata["tag"]
    assert short(qdata, query_ok(org, f"SELECT Name FROM Account WHERE Name LIKE '{tag}-_eta'")) == ["Beta"]
    assert short(qdata, query_ok(org, f"SELECT Name FROM Account WHERE Name LIKE '%{tag[2:]}-%lta'")) == ["Delta"]
    # SOQL LIKE is case-insensitive
    assert short(qdata, query_ok(org, f"SELECT Name FROM Account WHERE Name LIKE '{tag.lower()}-ALP%'")) == ["Alpha"]


def test_in_and_not_in(org, qdata):
    t = qdata["tag"]
    assert where(org, qdata, f"Ext_Id__c IN ('{t}A', '{t}G')") == ["Alpha", "Gamma"]
    assert where(org, qdata, f"Ext_Id__c NOT IN ('{t}A', '{t}G')") == ["Beta", "Delta"]
    ids = f"'{qdata['acc']['B']}', '{qdata['acc']['D']}'"
    assert where(org, qdata, f"Id IN ({ids})") == ["Beta", "Delta"]


def test_null_comparisons(org, qdata):
    assert where(org, qdata, "BillingCity = null") == ["Gamma"]
    assert where(org, qdata, "AnnualRevenue != null") == ["Alpha", "Beta", "Delta"]


def test_boolean_literal(org, qdata):
    assert len(where(org, qdata, "IsDeleted = false")) == 4
    assert where(org, qdata, "IsDeleted = true") == []


def test_datetime_literals(org, qdata):
    assert len(where(org, qdata, "CreatedDate > 2000-01-01T00:00:00Z")) == 4
    assert where(org, qdata, "CreatedDate < 2000-01-01T00:00:00Z") == []
    assert len(where(org, qdata, "CreatedDate > 2000-01-01T00:00:00.000+0000")) == 4
    assert len(where(org, qdata, "CreatedDate < 2999-01-01T00:00:00-08:00")) == 4
    assert len(where(org, qdata, "CreatedDate = TODAY OR CreatedDate = YESTERDAY OR CreatedDate = TOMORROW")) == 4


def test_date_literals(org, qdata):
    tag = qdata["tag"]
    q = "SELECT Name FROM Opportunity WHERE Name LIKE '" + tag + "-%' AND "
    assert len(query_ok(org, q + "CloseDate = 2024-03-15")["records"]) == 1
    assert len(query_ok(org, q + "CloseDate > 2024-03-14 AND CloseDate < 2024-03-16")["records"]) == 1
    assert len(query_ok(org, q + "CloseDate > 2024-03-15")["records"]) == 0
    c = query_ok(org, f"SELECT LastName FROM Contact WHERE LastName LIKE '{tag}-%' AND Birthdate < 2000-01-01")
    assert [r["LastName"] for r in c["records"]] == [f"{tag}-One"]


def test_order_by(org, qdata):
    assert where(org, qdata, "Name != null", order="NumberOfEmployees DESC") == ["Delta", "Gamma", "Beta", "Alpha"]
    assert where(org, qdata, "Name != null", order="BillingCity ASC NULLS LAST, Name DESC") == ["Beta", "Delta", "Alpha", "Gamma"]
    assert where(org, qdata, "Name != null", order="AnnualRevenue DESC NULLS FIRST") == ["Gamma", "Delta", "Beta", "Alpha"]


def test_limit_and_offset(org, qdata):
    base = f"SELECT Name FROM Account WHERE Name LIKE '{qdata['tag']}-%' ORDER BY NumberOfEmployees"
    r = query_ok(org, base + " LIMIT 2")
    assert short(qdata, r) == ["Alpha", "Beta"] and r["totalSize"] == 2
    r = query_ok(org, base + " LIMIT 2 OFFSET 1")
    assert short(qdata, r) == ["Beta", "Gamma"]
    r = query_ok(org, base + " OFFSET 3")
    assert short(qdata, r) == ["Delta"]


def test_offset_over_2000(org):
    r = query(org, "SELECT Id FROM Account LIMIT 10 OFFSET 2001")
    assert_api_error(r, 400, "NUMBER_OUTSIDE_VALID_RANGE")


def test_gzip_and_tls(org):
    r = requests.get(
        f"{org.https_url}/services/data/v{org.api_version}/query",
        params={"q": "SELECT Id, Name, Description, BillingCity FROM Account"},
        headers=auth_headers(org, **{"Accept-Encoding": "gzip"}),
        verify=org.ca_file,
    )
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Encoding") == "gzip"
    assert r.json()["totalSize"] == org.count("Account")


def test_plus_encoded_spaces(org, qdata):
    url = f"{api(org)}/query?q=SELECT+Id+FROM+Account+WHERE+Ext_Id__c+=+'{qdata['tag']}A'"
    r = requests.get(url, headers=auth_headers(org))
    assert r.status_code == 200, r.text
    assert r.json()["records"][0]["Id"] == qdata["acc"]["A"]


# ---------------------------------------------------------------------------------------------
# paging (§3.2-3.4)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def many_leads(org):
    org.seed("Lead", 440)
    n = org.count("Lead")
    assert n >= 450
    return n


def test_paging_with_batch_size(org, many_leads):
    records, pages = query_all_pages(org, "SELECT Id, Name FROM Lead", batch_size=200)
    assert len(pages) >= -(-many_leads // 200), [len(p["records"]) for p in pages]
    for p in pages[:-1]:
        assert p["done"] is False
        assert 0 < len(p["records"]) <= 200, "batchSize=200 caps each page (§3.3)"
        assert p["nextRecordsUrl"].startswith(f"/services/data/v{org.api_version}/query/")
    assert pages[-1]["done"] is True and "nextRecordsUrl" not in pages[-1]
    for p in pages:
        assert p["totalSize"] == many_leads
    ids = [r["Id"] for r in records]
    assert len(ids) == many_leads and len(set(ids)) == many_leads, "no duplicates, no gaps"
    assert {r["attributes"]["type"] for r in records} == {"Lead"}


def test_paging_ordered_matches_single_page(org, many_leads):
    paged, pages = query_all_pages(org, "SELECT Id FROM Lead ORDER BY Id", batch_size=200)
    assert len(pages) >= 3
    whole = query_ok(org, "SELECT Id FROM Lead ORDER BY Id")
    assert whole["done"] is True and len(whole["records"]) == many_leads, "default batch is 2000"
    assert [r["Id"] for r in paged] == [r["Id"] for r in whole["records"]]


def test_batch_size_minimum_is_200(org, many_leads):
    # §3.3: minimum 200 — a smaller request must not produce pages under 200 rows
    r = query(org, "SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=50"})
    assert r.status_code == 200, r.text
    assert len(r.json()["records"]) >= 200


def test_invalid_query_locator(org):
    r = requests.get(f"{api(org)}/query/0r8xx00000000ZZAAA-2000", headers=auth_headers(org))
    assert_api_error(r, 400, "INVALID_QUERY_LOCATOR")


# ---------------------------------------------------------------------------------------------
# queryAll (§3.1)
# ---------------------------------------------------------------------------------------------


def test_query_all_sees_deleted(org):
    tag = unique_tag("QA")
    keep = create(org, "Account", {"Name": f"{tag}-keep"})
    gone = create(org, "Account", {"Name": f"{tag}-gone"})
    delete(org, "Account", gone)
    soql = f"SELECT Id, Name, IsDeleted FROM Account WHERE Name LIKE '{tag}-%' ORDER BY Name"
    live = query_ok(org, soql)
    assert [r["Id"] for r in live["records"]] == [keep]
    everything = query_ok(org, soql, all_rows=True)
    assert [(r["Id"], r["IsDeleted"]) for r in everything["records"]] == [(gone, True), (keep, False)]
    assert query_ok(org, f"SELECT COUNT() FROM Account WHERE Name LIKE '{tag}-%' AND IsDeleted = true", all_rows=True)["totalSize"] == 1
    assert (
        org.count("Account", include_deleted=True)
        == org.count("Account") + query_ok(org, "SELECT COUNT() FROM Account WHERE IsDeleted = true", all_rows=True)["totalSize"]
    )


def test_query_all_paging(org, many_leads):
    records, pages = query_all_pages(org, "SELECT Id FROM Lead", all_rows=True, batch_size=200)
    assert len(pages) >= 3
    assert len({r["Id"] for r in records}) == len(records) >= many_leads
    nxt = pages[0]["nextRecordsUrl"]
    # §3.1 unconfirmed: the next URL is under /queryAll/ (or /query/)
    assert nxt.startswith(f"/services/data/v{org.api_version}/queryAll/") or nxt.startswith(f"/services/data/v{org.api_version}/query/")


# ---------------------------------------------------------------------------------------------
# errors (§3.5)
# ---------------------------------------------------------------------------------------------


def test_malformed_query(org):
    assert_api_error(query(org, "SELECT Id FROM"), 400, "MALFORMED_QUERY")
    assert_api_error(query(org, "SELEKT Id FROM Account"), 400, "MALFORMED_QUERY")
    assert_api_error(query(org, "SELECT Id FROM Account WHERE"), 400, "MALFORMED_QUERY")


def test_invalid_field(org):
    e = assert_api_error(query(org, "SELECT Foo FROM Account"), 400, "INVALID_FIELD")
    assert "Foo" in e["message"]
    assert_api_error(query(org, "SELECT Id FROM Account WHERE Nope__c = 1"), 400, "INVALID_FIELD")
    assert_api_error(query(org, "SELECT Id, Owner.Nope FROM Account"), 400, "INVALID_FIELD")


def test_invalid_type(org):
    e = assert_api_error(query(org, "SELECT Id FROM Foo"), 400, "INVALID_TYPE")
    assert "Foo" in e["message"]


def test_missing_q_parameter(org):
    r = requests.get(f"{api(org)}/query", headers=auth_headers(org))
    assert r.status_code == 400
    assert isinstance(r.json(), list)


def test_ten_open_cursors(org, many_leads):
    urls = []
    for _ in range(10):
        page = query_ok(org, "SELECT Id FROM Lead", headers={"Sforce-Query-Options": "batchSize=200"})
        urls.append(page["nextRecordsUrl"])
    assert len(set(urls)) == 10
    for u in urls:  # §3.4: at least 10 cursors per user stay usable
        r = requests.get(org.url + u, headers=auth_headers(org))
        assert r.status_code == 200, r.text
        assert len(r.json()["records"]) > 0


def test_aggregate_alias_and_group_by(org, qdata):
    tag = qdata["tag"]
    res = query_ok(org, f"SELECT COUNT(Id) cnt FROM Account WHERE Name LIKE '{tag}-%'")
    assert res["records"][0]["cnt"] == 4
    res = query_ok(
        org, f"SELECT BillingCity, COUNT(Id) FROM Account WHERE Name LIKE '{tag}-%' AND BillingCity != null GROUP BY BillingCity ORDER BY BillingCity"
    )
    rows = [(r["BillingCity"], r["expr0"]) for r in res["records"]]
    assert rows == [("London", 1), ("Paris", 2)]
    assert all(r["attributes"]["type"] == "AggregateResult" for r in res["records"])


def test_fields_all_requires_limit(org, qdata):
    r = query(org, "SELECT FIELDS(ALL) FROM Account")
    assert r.status_code == 400, "FIELDS(ALL) without LIMIT 200 is refused (§3.2)"
    assert isinstance(r.json(), list)
    rec = query_ok(org, f"SELECT FIELDS(ALL) FROM Account WHERE Id = '{qdata['acc']['A']}' LIMIT 200")["records"][0]
    assert rec["Name"] == f"{qdata['tag']}-Alpha" and rec["Ext_Id__c"] == f"{qdata['tag']}A"
    assert "NumberOfEmployees" in rec and "IsDeleted" in rec


def test_fifteen_char_ids(org, qdata):
    # §2.1: 15-char case-sensitive or 18-char case-insensitive ids are accepted; the API returns 18-char
    rid = qdata["acc"]["A"]
    res = query_ok(org, f"SELECT Id FROM Account WHERE Id = '{rid[:15]}'")
    assert [r["Id"] for r in res["records"]] == [rid]
    r = requests.get(f"{api(org)}/sobjects/Account/{rid[:15]}", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    assert r.json()["Id"] == rid
