"""§4.2 sObject Collections: create / retrieve / update / upsert / delete, the 200 cap, allOrNone."""

from __future__ import annotations

import requests
from sf_helpers import (
    ID18_RE,
    api,
    assert_api_error,
    auth_headers,
    create,
    limit_info,
    query_ok,
    retrieve,
    unique_tag,
)


def coll(org) -> str:
    return f"{api(org)}/composite/sobjects"


def acct(name: str, **fields) -> dict:
    return {"attributes": {"type": "Account"}, "Name": name, **fields}


def post_create(org, records, all_or_none=False) -> requests.Response:
    return requests.post(coll(org), json={"allOrNone": all_or_none, "records": records}, headers=auth_headers(org))


def assert_success(res: dict) -> str:
    assert res["success"] is True, res
    assert res["errors"] == [], res
    assert ID18_RE.match(res["id"]), res
    return res["id"]


def status_codes(res: dict) -> list[str]:
    assert res["success"] is False, res
    assert res["errors"], res
    for e in res["errors"]:
        assert "statusCode" in e and "message" in e, f"collection errors use statusCode: {e}"
    return [e["statusCode"] for e in res["errors"]]


def count_tag(org, tag: str, sobject="Account", field="Name") -> int:
    return query_ok(org, f"SELECT COUNT() FROM {sobject} WHERE {field} LIKE '{tag}%'")["totalSize"]


def test_create_in_order(org):
    tag = unique_tag("CC")
    r = post_create(org, [acct(f"{tag}-{i}", NumberOfEmployees=i) for i in range(5)])
    assert r.status_code == 200, r.text
    limit_info(r)
    results = r.json()
    assert isinstance(results, list) and len(results) == 5
    ids = [assert_success(x) for x in results]
    assert len(set(ids)) == 5
    for i, rid in enumerate(ids):
        rec = retrieve(org, "Account", rid)
        assert rec["Name"] == f"{tag}-{i}" and rec["NumberOfEmployees"] == i, "results follow request order"


def test_create_mixed_types(org):
    tag = unique_tag("CM")
    r = post_create(org, [acct(f"{tag}-a"), {"attributes": {"type": "Contact"}, "LastName": f"{tag}-c"}, acct(f"{tag}-b")])
    assert r.status_code == 200, r.text
    a, c, b = r.json()
    assert assert_success(a).startswith("001")
    assert assert_success(c).startswith("003")
    assert assert_success(b).startswith("001")


def test_create_over_tls(org):
    tag = unique_tag("CT")
    r = requests.post(
        f"{org.https_url}/services/data/v{org.api_version}/composite/sobjects",
        json={"records": [acct(f"{tag}-1"), acct(f"{tag}-2")]},
        headers=auth_headers(org),
        verify=org.ca_file,
    )
    assert r.status_code == 200, r.text
    assert all(x["success"] for x in r.json())
    assert count_tag(org, tag) == 2


def test_create_200_ok_201_rejected(fresh_org):
    org = fresh_org
    tag = unique_tag("C200")
    before = org.count("Account")
    r = post_create(org, [acct(f"{tag}-{i}") for i in range(201)])
    assert_api_error(r, 400)
    assert org.count("Account") == before, "an oversized request writes nothing"
    r = post_create(org, [acct(f"{tag}-{i}") for i in range(200)])
    assert r.status_code == 200, r.text
    assert len(r.json()) == 200 and all(x["success"] for x in r.json())
    assert org.count("Account") == before + 200


def test_create_mixed_results_all_or_none_false(org):
    tag = unique_tag("CF")
    records = [acct(f"{tag}-ok1"), {"attributes": {"type": "Account"}, "Description": "no name"}, acct(f"{tag}-ok2")]
    r = post_create(org, records, all_or_none=False)
    assert r.status_code == 200, r.text
    ok1, bad, ok2 = r.json()
    assert_success(ok1)
    assert_success(ok2)
    assert status_codes(bad) == ["REQUIRED_FIELD_MISSING"]
    assert "Name" in bad["errors"][0].get("fields", ["Name"])
    assert count_tag(org, tag) == 2, "successes are committed"


def test_create_default_all_or_none_is_false(org):
    tag = unique_tag("CD")
    r = requests.post(coll(org), json={"records": [acct(f"{tag}-ok"), {"attributes": {"type": "Account"}}]}, headers=auth_headers(org))
    assert r.status_code == 200
    ok, bad = r.json()
    assert ok["success"] is True and bad["success"] is False
    assert count_tag(org, tag) == 1


def test_create_all_or_none_true_rolls_back(org):
    tag = unique_tag("CR")
    records = [acct(f"{tag}-ok1"), acct(f"{tag}-ok2"), {"attributes": {"type": "Account"}, "Description": "x"}]
    r = post_create(org, records, all_or_none=True)
    assert r.status_code == 200, r.text
    ok1, ok2, bad = r.json()
    for rolled in (ok1, ok2):
        assert status_codes(rolled) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"]
        assert rolled.get("id") is None, "rolled-back creates have no id"
    assert status_codes(bad) == ["REQUIRED_FIELD_MISSING"]
    assert count_tag(org, tag) == 0, "nothing written"


def test_all_or_none_duplicate_external_id(org):
    tag = unique_tag("CX")
    create(org, "Account", {"Name": f"{tag}-existing", "Ext_Id__c": f"{tag}-E"})
    r = post_create(org, [acct(f"{tag}-new"), acct(f"{tag}-clash", Ext_Id__c=f"{tag}-E")], all_or_none=True)
    assert r.status_code == 200
    new, clash = r.json()
    assert status_codes(new) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert status_codes(clash) == ["DUPLICATE_VALUE"]
    assert count_tag(org, tag) == 1


def test_create_with_id_rejected_per_record(org):
    existing = create(org, "Account", {"Name": unique_tag("CI")})
    r = post_create(org, [acct("with id", Id=existing)])
    # a record carrying an Id is rejected (per record, or the whole request as malformed)
    if r.status_code == 200:
        assert r.json()[0]["success"] is False
    else:
        assert_api_error(r, 400)


def test_missing_attributes_type_is_400(org):
    r = post_create(org, [{"Name": "no type"}])
    assert_api_error(r, 400)


def test_retrieve(org):
    tag = unique_tag("CG")
    a = create(org, "Account", {"Name": f"{tag}-a", "NumberOfEmployees": 3})
    b = create(org, "Account", {"Name": f"{tag}-b", "NumberOfEmployees": 4})
    r = requests.get(f"{coll(org)}/Account", params={"ids": f"{b},{a}", "fields": "Name,NumberOfEmployees"}, headers=auth_headers(org))
    assert r.status_code == 200, r.text
    recs = r.json()
    assert [x["Id"] for x in recs] == [b, a]
    assert recs[0]["Name"] == f"{tag}-b" and recs[1]["NumberOfEmployees"] == 3
    assert recs[0]["attributes"]["type"] == "Account"
    r = requests.post(f"{coll(org)}/Account", json={"ids": [a], "fields": ["Name"]}, headers=auth_headers(org))
    assert r.status_code == 200, r.text
    assert r.json()[0]["Name"] == f"{tag}-a"


def test_update(org):
    tag = unique_tag("CU")
    a = create(org, "Account", {"Name": f"{tag}-a"})
    b = create(org, "Account", {"Name": f"{tag}-b"})
    r = requests.patch(
        coll(org),
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "id": a, "NumberOfEmployees": 11},
                {"attributes": {"type": "Account"}, "id": "001000000000000AAA", "NumberOfEmployees": 1},
                {"attributes": {"type": "Account"}, "Id": b, "Description": "updated"},
            ],
        },
        headers=auth_headers(org),
    )
    assert r.status_code == 200, r.text
    ra, rbad, rb = r.json()
    assert ra["success"] is True and ra["id"] == a and ra["errors"] == []
    assert rbad["success"] is False and rbad["errors"]
    assert rb["success"] is True and rb["id"] == b
    assert retrieve(org, "Account", a)["NumberOfEmployees"] == 11
    assert retrieve(org, "Account", b)["Description"] == "updated"


def test_update_all_or_none_malformed_id(org):
    a = create(org, "Account", {"Name": unique_tag("CUM"), "NumberOfEmployees": 1})
    r = requests.patch(
        coll(org),
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "id": a, "NumberOfEmployees": 99},
                {"attributes": {"type": "Account"}, "id": "bogus", "NumberOfEmployees": 5},
            ],
        },
        headers=auth_headers(org),
    )
    assert r.status_code == 200, r.text
    good, bad = r.json()
    assert status_codes(good) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert status_codes(bad) == ["MALFORMED_ID"]
    assert retrieve(org, "Account", a)["NumberOfEmployees"] == 1, "update rolled back"


def test_upsert(org):
    tag = unique_tag("CP")
    existing = create(org, "Account", {"Name": f"{tag}-old", "Ext_Id__c": f"{tag}-1"})
    r = requests.patch(
        f"{coll(org)}/Account/Ext_Id__c",
        json={
            "allOrNone": False,
            "records": [
                {"attributes": {"type": "Account"}, "Ext_Id__c": f"{tag}-1", "Name": f"{tag}-renamed"},
                {"attributes": {"type": "Account"}, "Ext_Id__c": f"{tag}-2", "Name": f"{tag}-brand-new"},
            ],
        },
        headers=auth_headers(org),
    )
    assert r.status_code == 200, r.text
    upd, ins = r.json()
    assert upd["success"] is True and upd["created"] is False and upd["id"] == existing
    assert ins["success"] is True and ins["created"] is True and ins["id"].startswith("001")
    assert retrieve(org, "Account", existing)["Name"] == f"{tag}-renamed"
    assert retrieve(org, "Account", ins["id"])["Ext_Id__c"] == f"{tag}-2"


def test_upsert_all_or_none_rollback(org):
    tag = unique_tag("CPR")
    r = requests.patch(
        f"{coll(org)}/Account/Ext_Id__c",
        json={
            "allOrNone": True,
            "records": [
                {"attributes": {"type": "Account"}, "Ext_Id__c": f"{tag}-1", "Name": f"{tag}-ok"},
                {"attributes": {"type": "Account"}, "Ext_Id__c": f"{tag}-2"},  # new record without Name
            ],
        },
        headers=auth_headers(org),
    )
    assert r.status_code == 200, r.text
    ok, bad = r.json()
    assert ok["success"] is False and bad["success"] is False
    assert status_codes(ok) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert status_codes(bad) == ["REQUIRED_FIELD_MISSING"]
    assert count_tag(org, tag, field="Ext_Id__c") == 0


def test_upsert_unknown_external_field_is_400_or_404(org):
    r = requests.patch(
        f"{coll(org)}/Account/Nope__c", json={"records": [{"attributes": {"type": "Account"}, "Nope__c": "1", "Name": "x"}]}, headers=auth_headers(org)
    )
    assert r.status_code in (400, 404), r.text
    assert isinstance(r.json(), list) and "errorCode" in r.json()[0]


def test_delete(org):
    tag = unique_tag("CDL")
    ids = [create(org, "Account", {"Name": f"{tag}-{i}"}) for i in range(3)]
    con = create(org, "Contact", {"LastName": f"{tag}-c"})
    r = requests.delete(coll(org), params={"ids": ",".join(ids[:2] + [con]), "allOrNone": "false"}, headers=auth_headers(org))
    assert r.status_code == 200, r.text
    res = r.json()
    assert [x["id"] for x in res] == ids[:2] + [con]
    assert all(x["success"] is True and x["errors"] == [] for x in res)
    assert count_tag(org, tag) == 1
    deleted = query_ok(org, f"SELECT Id, IsDeleted FROM Account WHERE Name LIKE '{tag}%' AND IsDeleted = true", all_rows=True)
    assert {x["Id"] for x in deleted["records"]} == set(ids[:2])


def test_delete_mixed_and_all_or_none(org):
    tag = unique_tag("CDA")
    a = create(org, "Account", {"Name": f"{tag}-a"})
    gone = create(org, "Account", {"Name": f"{tag}-gone"})
    requests.delete(f"{api(org)}/sobjects/Account/{gone}", headers=auth_headers(org))
    r = requests.delete(coll(org), params={"ids": f"{a},{gone}", "allOrNone": "true"}, headers=auth_headers(org))
    assert r.status_code == 200, r.text
    ra, rg = r.json()
    assert status_codes(ra) == ["ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert status_codes(rg) == ["ENTITY_IS_DELETED"]
    assert count_tag(org, tag) == 1, "a must survive the rolled-back delete"
    r = requests.delete(coll(org), params={"ids": f"{a},{gone}", "allOrNone": "false"}, headers=auth_headers(org))
    ra, rg = r.json()
    assert ra["success"] is True and rg["success"] is False
    assert status_codes(rg) == ["ENTITY_IS_DELETED"]
    assert count_tag(org, tag) == 0


def test_delete_over_200_ids(org):
    ids = ",".join(["001000000000000AAA"] * 201)
    r = requests.delete(coll(org), params={"ids": ids}, headers=auth_headers(org))
    assert_api_error(r, 400)


def test_counts_as_one_api_call(fresh_org):
    org = fresh_org
    org.set_api_limit(1000, used=0)
    r1 = requests.get(f"{api(org)}/limits", headers=auth_headers(org))
    u1, _ = limit_info(r1)
    r2 = post_create(org, [acct(f"one-call-{i}") for i in range(50)])
    u2, _ = limit_info(r2)
    assert u2 == u1 + 1


def test_upsert_wrong_object_is_400(org):
    r = requests.patch(
        f"{coll(org)}/Account/Ext_Id__c",
        json={"records": [{"attributes": {"type": "Contact"}, "Ext_Id__c": unique_tag("W"), "LastName": "x"}]},
        headers=auth_headers(org),
    )
    assert_api_error(r, 400)


def test_more_than_ten_chunks_rejected(org):
    tag = unique_tag("CK")
    records = []
    for i in range(11):  # 11 alternating runs = 11 chunks (max 10)
        if i % 2 == 0:
            records.append(acct(f"{tag}-{i}"))
        else:
            records.append({"attributes": {"type": "Contact"}, "LastName": f"{tag}-{i}"})
    r = post_create(org, records)
    if r.status_code == 200:
        assert not all(x["success"] for x in r.json()), "11 chunks exceed the 10-chunk limit"
    else:
        assert_api_error(r, 400)
    # 10 chunks are fine
    r = post_create(org, records[:10])
    assert r.status_code == 200 and all(x["success"] for x in r.json()), r.text
