"""§2 REST basics and metadata, §4.1 single-record writes, §8 limits."""

from __future__ import annotations

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
    describe,
    fields_by_name,
    https_api,
    limit_info,
    query_ok,
    retrieve,
    unique_tag,
)

FIELD_TYPES = {
    "string",
    "picklist",
    "multipicklist",
    "combobox",
    "reference",
    "base64",
    "boolean",
    "currency",
    "textarea",
    "int",
    "double",
    "percent",
    "phone",
    "id",
    "date",
    "datetime",
    "time",
    "url",
    "email",
    "encryptedstring",
    "datacategorygroupreference",
    "location",
    "address",
    "anyType",
    "json",
    "complexvalue",
    "long",
}
SOAP_TYPE_FOR = {
    "id": {"tns:ID"},
    "reference": {"tns:ID"},
    "string": {"xsd:string"},
    "picklist": {"xsd:string"},
    "multipicklist": {"xsd:string"},
    "combobox": {"xsd:string"},
    "textarea": {"xsd:string"},
    "phone": {"xsd:string"},
    "url": {"xsd:string"},
    "email": {"xsd:string"},
    "encryptedstring": {"xsd:string"},
    "boolean": {"xsd:boolean"},
    "int": {"xsd:int"},
    "double": {"xsd:double"},
    "currency": {"xsd:double"},
    "percent": {"xsd:double"},
    "date": {"xsd:date"},
    "datetime": {"xsd:dateTime"},
    "time": {"xsd:time"},
    "base64": {"xsd:base64Binary"},
    "address": {"urn:address"},
    "location": {"urn:location"},
    "anyType": {"xsd:anyType"},
}
FIELD_PROPS = [
    "name",
    "type",
    "soapType",
    "label",
    "length",
    "byteLength",
    "precision",
    "scale",
    "digits",
    "nillable",
    "createable",
    "updateable",
    "calculated",
    "autoNumber",
    "defaultedOnCreate",
    "defaultValue",
    "externalId",
    "idLookup",
    "unique",
    "caseSensitive",
    "referenceTo",
    "relationshipName",
    "compoundFieldName",
    "picklistValues",
    "restrictedPicklist",
    "dependentPicklist",
    "filterable",
    "sortable",
    "groupable",
    "aggregatable",
    "custom",
    "htmlFormatted",
    "deprecatedAndHidden",
    "nameField",
]
STANDARD = ["Account", "Contact", "Opportunity", "Lead", "Case", "User"]


# ---------------------------------------------------------------------------------------------
# §2.2 versions, resources, limits
# ---------------------------------------------------------------------------------------------


def test_versions_without_auth(org):
    r = requests.get(f"{org.url}/services/data/")
    assert r.status_code == 200, r.text
    versions = r.json()
    assert isinstance(versions, list) and versions
    for v in versions:
        assert isinstance(v["version"], str)
        assert v["url"] == f"/services/data/v{v['version']}"
        assert isinstance(v["label"], str) and v["label"]
    nums = [tuple(int(p) for p in v["version"].split(".")) for v in versions]
    assert nums == sorted(nums) and len(set(nums)) == len(nums), "ascending, no duplicates"
    listed = {v["version"] for v in versions}
    assert org.api_version in listed
    assert "62.0" in listed
    assert nums[-1] >= (62, 0)
    assert "Sforce-Limit-Info" not in r.headers, "§2.1: /services/data/ carries no Sforce-Limit-Info"


def test_versions_over_tls(org):
    r = requests.get(f"{org.https_url}/services/data/", verify=org.ca_file)
    assert r.status_code == 200
    assert any(v["version"] == org.api_version for v in r.json())


def test_version_resources(org):
    r = requests.get(f"{api(org)}/", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    res = r.json()
    assert isinstance(res, dict)
    for key in ("sobjects", "query", "limits"):
        assert res[key] == f"/services/data/v{org.api_version}/{key}", res
    if "queryAll" in res:
        assert res["queryAll"] == f"/services/data/v{org.api_version}/queryAll"
    limit_info(r)


def test_unknown_version_404(org):
    r = requests.get(f"{org.url}/services/data/v999.0/", headers=auth_headers(org))
    assert r.status_code == 404


def test_limits(org):
    r = requests.get(f"{api(org)}/limits", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    lim = r.json()
    for key in ("DailyApiRequests", "DailyBulkV2QueryJobs", "DailyBulkV2QueryFileStorageMB", "DailyBulkApiBatches"):
        assert key in lim, f"/limits lacks {key}"
        assert isinstance(lim[key]["Max"], int) and isinstance(lim[key]["Remaining"], int)
        assert 0 <= lim[key]["Remaining"] <= lim[key]["Max"]
    used, mx = limit_info(r)
    assert lim["DailyApiRequests"]["Max"] == mx
    assert abs((mx - lim["DailyApiRequests"]["Remaining"]) - used) <= 1


def test_limits_old_version_names_bulk_requests(org):
    # §2.2: DailyBulkApiBatches is v49.0+, named DailyBulkApiRequests in <= 48.0
    r = requests.get(f"{api(org, '48.0')}/limits", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    assert "DailyBulkApiRequests" in r.json()


# ---------------------------------------------------------------------------------------------
# §2.3 describeGlobal, §2.4 describe
# ---------------------------------------------------------------------------------------------


def test_describe_global(org):
    r = requests.get(f"{api(org)}/sobjects", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    g = r.json()
    assert g["encoding"] == "UTF-8"
    assert g["maxBatchSize"] == 200
    by_name = {s["name"]: s for s in g["sobjects"]}
    for name in STANDARD:
        assert name in by_name, f"{name} missing from describeGlobal"
    assert by_name["Account"]["keyPrefix"] == "001"
    assert by_name["Contact"]["keyPrefix"] == "003"
    assert by_name["User"]["keyPrefix"] == "005"
    for s in g["sobjects"]:
        for k in (
            "activateable",
            "createable",
            "custom",
            "customSetting",
            "deletable",
            "deprecatedAndHidden",
            "feedEnabled",
            "keyPrefix",
            "label",
            "labelPlural",
            "layoutable",
            "mergeable",
            "mruEnabled",
            "name",
            "queryable",
            "replicateable",
            "retrieveable",
            "searchable",
            "triggerable",
            "undeletable",
            "updateable",
            "urls",
        ):
            assert k in s, f"{s.get('name')}: describeGlobal entry lacks {k}"
        assert s["urls"]["sobject"] == f"/services/data/v{org.api_version}/sobjects/{s['name']}"
        assert s["urls"]["describe"] == f"/services/data/v{org.api_version}/sobjects/{s['name']}/describe"
    assert by_name["Account"]["queryable"] is True and by_name["Account"]["custom"] is False


def test_describe_field_properties(org):
    for name in STANDARD:
        d = describe(org, name)
        assert d["name"] == name
        for k in ("fields", "childRelationships", "recordTypeInfos", "urls", "keyPrefix", "label", "queryable"):
            assert k in d, f"{name} describe lacks {k}"
        names = set()
        for f in d["fields"]:
            for p in FIELD_PROPS:
                assert p in f, f"{name}.{f.get('name')} lacks property {p}"
            assert f["type"] in FIELD_TYPES, f"{name}.{f['name']} has unknown type {f['type']}"
            if f["type"] in SOAP_TYPE_FOR:
                assert f["soapType"] in SOAP_TYPE_FOR[f["type"]], f"{name}.{f['name']}: {f['type']} / {f['soapType']}"
            assert isinstance(f["referenceTo"], list)
            assert isinstance(f["picklistValues"], list)
            if f["type"] in ("string", "textarea", "phone", "url", "email", "picklist"):
                assert f["length"] > 0, f"{name}.{f['name']} text field needs a length"
            if f["type"] == "reference":
                assert f["referenceTo"], f"{name}.{f['name']} reference without referenceTo"
            if f["externalId"]:
                assert f["idLookup"] is True, f"{name}.{f['name']}: externalId implies idLookup"
            names.add(f["name"])
        assert "Id" in names
        idf = fields_by_name(d)["Id"]
        assert idf["type"] == "id" and idf["soapType"] == "tns:ID" and idf["nillable"] is False


def test_describe_account_types(org):
    f = fields_by_name(describe(org, "Account"))
    assert f["Name"]["type"] == "string" and f["Name"]["nillable"] is False and f["Name"]["createable"]
    assert f["AnnualRevenue"]["type"] == "currency" and f["AnnualRevenue"]["soapType"] == "xsd:double"
    assert f["NumberOfEmployees"]["type"] == "int" and f["NumberOfEmployees"]["soapType"] == "xsd:int"
    assert f["IsDeleted"]["type"] == "boolean" and f["IsDeleted"]["nillable"] is False
    assert f["CreatedDate"]["type"] == "datetime" and f["CreatedDate"]["soapType"] == "xsd:dateTime"
    assert f["CreatedDate"]["createable"] is False and f["CreatedDate"]["updateable"] is False
    # compound address
    assert f["BillingAddress"]["type"] == "address" and f["BillingAddress"]["soapType"] == "urn:address"
    for comp in ("BillingStreet", "BillingCity", "BillingState", "BillingPostalCode", "BillingCountry"):
        assert f[comp]["compoundFieldName"] == "BillingAddress", comp
    assert f["Name"]["compoundFieldName"] is None
    # references
    assert f["OwnerId"]["type"] == "reference"
    assert "User" in f["OwnerId"]["referenceTo"]
    assert f["OwnerId"]["relationshipName"] == "Owner"
    # external id
    ext = f["Ext_Id__c"]
    assert ext["externalId"] is True and ext["unique"] is True and ext["idLookup"] is True
    assert ext["custom"] is True and ext["type"] == "string"
    # at least one picklist with well-formed values
    picklists = [x for x in f.values() if x["type"] == "picklist"]
    assert picklists, "Account should have picklists (Type, Industry, ...)"
    for pl in picklists:
        assert pl["picklistValues"], pl["name"]
        for v in pl["picklistValues"]:
            for k in ("active", "defaultValue", "label", "value"):
                assert k in v, (pl["name"], v)


def test_describe_relationships(org):
    c = fields_by_name(describe(org, "Contact"))
    assert c["AccountId"]["type"] == "reference"
    assert c["AccountId"]["referenceTo"] == ["Account"]
    assert c["AccountId"]["relationshipName"] == "Account"
    assert c["LastName"]["nillable"] is False
    assert c["Ext_Id__c"]["externalId"] is True
    a = describe(org, "Account")
    rel = [r for r in a["childRelationships"] if r["relationshipName"] == "Contacts"]
    assert rel, "Account must expose the Contacts child relationship"
    assert rel[0]["childSObject"] == "Contact" and rel[0]["field"] == "AccountId"
    for k in ("cascadeDelete", "restrictedDelete", "deprecatedAndHidden"):
        assert k in rel[0]
    o = fields_by_name(describe(org, "Opportunity"))
    assert o["CloseDate"]["type"] == "date" and o["CloseDate"]["soapType"] == "xsd:date"
    assert o["Ext_Id__c"]["externalId"] is True
    assert o["AccountId"]["relationshipName"] == "Account"


def test_describe_over_tls_and_gzip(org):
    r = requests.get(f"{https_api(org)}/sobjects/Account/describe", verify=org.ca_file, headers=auth_headers(org, **{"Accept-Encoding": "gzip"}))
    assert r.status_code == 200
    assert r.headers.get("Content-Encoding") == "gzip"
    assert r.json()["name"] == "Account"


def test_describe_unknown_object(org):
    r = requests.get(f"{api(org)}/sobjects/NoSuchThing__c/describe", headers=auth_headers(org))
    assert_api_error(r, 404, "NOT_FOUND")
    r = requests.get(f"{api(org)}/sobjects/NoSuchThing__c/001000000000000AAA", headers=auth_headers(org))
    assert_api_error(r, 404, "NOT_FOUND")


def test_define_object_and_field(fresh_org):
    org = fresh_org
    org.define_object(
        "Invoice__c",
        fields=[
            {"name": "Amount__c", "type": "currency", "precision": 18, "scale": 2},
            {"name": "Code__c", "type": "string", "length": 20, "externalId": True, "unique": True},
        ],
    )
    org.define_field("Account", {"name": "Tier__c", "type": "picklist", "picklistValues": ["Gold", "Silver"]})
    g = requests.get(f"{api(org)}/sobjects", headers=auth_headers(org)).json()
    inv = [s for s in g["sobjects"] if s["name"] == "Invoice__c"]
    assert inv and inv[0]["custom"] is True
    d = describe(org, "Invoice__c")
    f = fields_by_name(d)
    assert f["Amount__c"]["type"] == "currency"
    assert f["Amount__c"]["precision"] == 18 and f["Amount__c"]["scale"] == 2
    assert f["Code__c"]["type"] == "string" and f["Code__c"]["length"] == 20
    assert f["Code__c"]["externalId"] is True and f["Code__c"]["unique"] is True and f["Code__c"]["custom"] is True
    assert "Id" in f and "Name" in f
    tier = fields_by_name(describe(org, "Account"))["Tier__c"]
    assert tier["type"] == "picklist" and tier["custom"] is True
    assert [v["value"] for v in tier["picklistValues"]] == ["Gold", "Silver"]
    # usable end to end
    rid = create(org, "Invoice__c", {"Name": "INV-1", "Amount__c": 12.5, "Code__c": "C-1"})
    assert rid.startswith(d["keyPrefix"])
    rec = retrieve(org, "Invoice__c", rid)
    assert rec["Amount__c"] == 12.5 and rec["Code__c"] == "C-1"


# ---------------------------------------------------------------------------------------------
# §4.1 single-record CRUD
# ---------------------------------------------------------------------------------------------


def test_create_retrieve_update_delete(org):
    tag = unique_tag("CRUD")
    r = requests.post(f"{api(org)}/sobjects/Account", json={"Name": tag, "NumberOfEmployees": 7}, headers=auth_headers(org))
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"id", "success", "errors"} and body["success"] is True and body["errors"] == []
    rid = body["id"]
    assert ID18_RE.match(rid) and rid.startswith("001")
    limit_info(r)

    rec = retrieve(org, "Account", rid)
    assert list(rec)[0] == "attributes"
    assert rec["attributes"] == {"type": "Account", "url": f"/services/data/v{org.api_version}/sobjects/Account/{rid}"}
    assert rec["Id"] == rid and rec["Name"] == tag and rec["NumberOfEmployees"] == 7
    assert rec["IsDeleted"] is False
    assert REST_DATETIME_RE.match(rec["CreatedDate"]), rec["CreatedDate"]
    assert rec["OwnerId"] == org.user_id
    assert "AnnualRevenue" in rec and rec["AnnualRevenue"] is None, "null fields are present"

    r = requests.patch(f"{api(org)}/sobjects/Account/{rid}", json={"NumberOfEmployees": 8, "Description": "d"}, headers=auth_headers(org))
    assert r.status_code == 204, r.text
    assert r.content == b""
    rec = retrieve(org, "Account", rid, fields="Name,NumberOfEmployees,Description")
    assert rec["NumberOfEmployees"] == 8 and rec["Description"] == "d" and rec["Name"] == tag
    assert set(rec) - {"attributes", "Id"} == {"Name", "NumberOfEmployees", "Description"}

    r = requests.patch(f"{api(org)}/sobjects/Account/{rid}", json={"Description": None}, headers=auth_headers(org))
    assert r.status_code == 204
    assert retrieve(org, "Account", rid)["Description"] is None, "null clears a field"

    r = requests.delete(f"{api(org)}/sobjects/Account/{rid}", headers=auth_headers(org))
    assert r.status_code == 204
    assert r.content == b""
    r = requests.get(f"{api(org)}/sobjects/Account/{rid}", headers=auth_headers(org))
    assert_api_error(r, 404, "NOT_FOUND", "ENTITY_IS_DELETED")


def test_create_over_tls(org):
    r = requests.post(f"{https_api(org)}/sobjects/Contact", json={"LastName": unique_tag("Tls")}, headers=auth_headers(org), verify=org.ca_file)
    assert r.status_code == 201, r.text
    assert r.json()["id"].startswith("003")


def test_create_with_dates_and_parent_by_external_id(org):
    ext = unique_tag("PX")
    acc = create(org, "Account", {"Name": ext, "Ext_Id__c": ext})
    cid = create(org, "Contact", {"LastName": "Child", "Birthdate": "1990-05-17", "Account": {"Ext_Id__c": ext}})
    rec = retrieve(org, "Contact", cid)
    assert rec["AccountId"] == acc
    assert rec["Birthdate"] == "1990-05-17" and DATE_RE.match(rec["Birthdate"])


def test_retrieve_by_external_id(org):
    ext = unique_tag("RX")
    rid = create(org, "Account", {"Name": "By ext", "Ext_Id__c": ext})
    r = requests.get(f"{api(org)}/sobjects/Account/Ext_Id__c/{ext}", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    assert r.json()["Id"] == rid
    r = requests.get(f"{api(org)}/sobjects/Account/Ext_Id__c/does-not-exist-{ext}", headers=auth_headers(org))
    assert_api_error(r, 404, "NOT_FOUND")


def test_upsert_by_external_id(org):
    ext = unique_tag("UP")
    url = f"{api(org)}/sobjects/Account/Ext_Id__c/{ext}"
    r = requests.patch(url, json={"Name": "first"}, headers=auth_headers(org))
    assert r.status_code == 201, r.text
    b = r.json()
    assert b["success"] is True and b["errors"] == [] and b["created"] is True
    rid = b["id"]
    assert rid.startswith("001")
    r = requests.patch(url, json={"Name": "second"}, headers=auth_headers(org))
    # §4.1 DISCREPANCY: v46.0+ 200 with body (created false) or 204.
    assert r.status_code in (200, 204), r.text
    if r.status_code == 200:
        b = r.json()
        assert b["id"] == rid and b["created"] is False and b["success"] is True
    assert retrieve(org, "Account", rid)["Name"] == "second"
    assert query_ok(org, f"SELECT COUNT() FROM Account WHERE Ext_Id__c = '{ext}'")["totalSize"] == 1


def test_upsert_old_version_returns_204_on_update(org):
    ext = unique_tag("UO")
    url = f"{api(org, '45.0')}/sobjects/Account/Ext_Id__c/{ext}"
    r = requests.patch(url, json={"Name": "first"}, headers=auth_headers(org))
    assert r.status_code == 201, r.text
    assert "created" not in r.json(), "'created' exists only in v46.0+"
    r = requests.patch(url, json={"Name": "second"}, headers=auth_headers(org))
    assert r.status_code == 204, r.text


def test_upsert_unknown_external_field_404(org):
    r = requests.patch(f"{api(org)}/sobjects/Account/No_Such_Field__c/x1", json={"Name": "x"}, headers=auth_headers(org))
    assert_api_error(r, 404, "NOT_FOUND")


def test_upsert_multiple_matches_300(fresh_org):
    org = fresh_org
    org.define_field("Account", {"name": "Legacy_Key__c", "type": "string", "length": 20, "externalId": True})
    a = create(org, "Account", {"Name": "dup1", "Legacy_Key__c": "K1"})
    b = create(org, "Account", {"Name": "dup2", "Legacy_Key__c": "K1"})
    r = requests.patch(f"{api(org)}/sobjects/Account/Legacy_Key__c/K1", json={"Name": "x"}, headers=auth_headers(org))
    assert r.status_code == 300, r.text
    body = r.json()
    assert isinstance(body, list) and len(body) == 2
    joined = " ".join(body)
    assert a in joined and b in joined
    r = requests.get(f"{api(org)}/sobjects/Account/Legacy_Key__c/K1", headers=auth_headers(org))
    assert r.status_code == 300


def test_create_via_id_upsert(org):
    r = requests.post(f"{api(org)}/sobjects/Account/Id", json={"Name": unique_tag("IdUp")}, headers=auth_headers(org))
    assert r.status_code == 201, r.text
    assert r.json()["id"].startswith("001")


# ---------------------------------------------------------------------------------------------
# §4.1 / §4.2 errors
# ---------------------------------------------------------------------------------------------


def test_required_field_missing(org):
    r = requests.post(f"{api(org)}/sobjects/Account", json={"Description": "no name"}, headers=auth_headers(org))
    e = assert_api_error(r, 400, "REQUIRED_FIELD_MISSING")
    assert e.get("fields") == ["Name"]
    r = requests.post(f"{api(org)}/sobjects/Contact", json={"FirstName": "x"}, headers=auth_headers(org))
    e = assert_api_error(r, 400, "REQUIRED_FIELD_MISSING")
    assert "LastName" in e.get("fields", [])


def test_string_too_long(org):
    length = fields_by_name(describe(org, "Account"))["Name"]["length"]
    r = requests.post(f"{api(org)}/sobjects/Account", json={"Name": "x" * (length + 1)}, headers=auth_headers(org))
    e = assert_api_error(r, 400, "STRING_TOO_LONG")
    assert "Name" in e.get("fields", ["Name"])
    r = requests.post(f"{api(org)}/sobjects/Account", json={"Name": "x" * length}, headers=auth_headers(org))
    assert r.status_code == 201, "exactly `length` characters must fit"


def test_malformed_id(org):
    r = requests.post(f"{api(org)}/sobjects/Contact", json={"LastName": "x", "AccountId": "001bad"}, headers=auth_headers(org))
    assert_api_error(r, 400, "MALFORMED_ID")


def test_invalid_field(org):
    r = requests.post(f"{api(org)}/sobjects/Account", json={"Name": "x", "Bogus_Field__c": 1}, headers=auth_headers(org))
    e = assert_api_error(r, 400, "INVALID_FIELD")
    assert "Bogus_Field__c" in e["message"]


def test_duplicate_external_id(org):
    ext = unique_tag("DUP")
    create(org, "Account", {"Name": "a", "Ext_Id__c": ext})
    r = requests.post(f"{api(org)}/sobjects/Account", json={"Name": "b", "Ext_Id__c": ext}, headers=auth_headers(org))
    assert_api_error(r, 400, "DUPLICATE_VALUE")
    assert query_ok(org, f"SELECT COUNT() FROM Account WHERE Ext_Id__c = '{ext}'")["totalSize"] == 1


def test_entity_is_deleted(org):
    rid = create(org, "Account", {"Name": unique_tag("Del")})
    delete(org, "Account", rid)
    r = requests.patch(f"{api(org)}/sobjects/Account/{rid}", json={"Name": "zombie"}, headers=auth_headers(org))
    assert_api_error(r, (400, 404), "ENTITY_IS_DELETED")
    r = requests.delete(f"{api(org)}/sobjects/Account/{rid}", headers=auth_headers(org))
    assert_api_error(r, (400, 404), "ENTITY_IS_DELETED")


def test_read_only_field_on_create(org):
    r = requests.post(f"{api(org)}/sobjects/Account", json={"Name": "x", "CreatedDate": "2020-01-01T00:00:00.000Z"}, headers=auth_headers(org))
    assert_api_error(r, 400, "INVALID_FIELD_FOR_INSERT_UPDATE")


def test_bad_json_body(org):
    r = requests.post(f"{api(org)}/sobjects/Account", data="{not json", headers=auth_headers(org, **{"Content-Type": "application/json"}))
    assert r.status_code == 400
    error_codes = [e["errorCode"] for e in r.json()]
    assert error_codes


# ---------------------------------------------------------------------------------------------
# §8 Sforce-Limit-Info and REQUEST_LIMIT_EXCEEDED
# ---------------------------------------------------------------------------------------------


def test_limit_info_counts_requests(fresh_org):
    org = fresh_org
    org.set_api_limit(1000, used=500)
    r1 = requests.get(f"{api(org)}/limits", headers=auth_headers(org))
    used1, mx = limit_info(r1)
    assert mx == 1000
    assert 500 <= used1 <= 501
    r2 = requests.get(f"{api(org)}/sobjects", headers=auth_headers(org))
    used2, _ = limit_info(r2)
    assert used2 == used1 + 1
    # /services/data/ does not count
    requests.get(f"{org.url}/services/data/")
    r3 = requests.get(f"{api(org)}/query", params={"q": "SELECT Id FROM Account"}, headers=auth_headers(org))
    used3, _ = limit_info(r3)
    assert used3 == used2 + 1
    lim = r1.json()["DailyApiRequests"]
    assert lim["Max"] == 1000
    assert 498 <= lim["Remaining"] <= 500


def test_limit_info_on_bulk_responses(org):
    r = requests.get(f"{api(org)}/jobs/ingest", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    limit_info(r)


def test_request_limit_exceeded(fresh_org):
    org = fresh_org
    org.set_api_limit(10, used=8)
    statuses = []
    for _ in range(5):
        r = requests.get(f"{api(org)}/limits", headers=auth_headers(org))
        statuses.append(r.status_code)
        if r.status_code == 403:
            e = assert_api_error(r, 403, "REQUEST_LIMIT_EXCEEDED")
            assert "TotalRequests Limit exceeded" in e["message"]
    assert statuses[0] == 200, statuses
    assert 403 in statuses, statuses
    first = statuses.index(403)
    assert all(s == 403 for s in statuses[first:]), statuses
    assert first <= 3, f"allowance 10 with 8 used must be exhausted quickly: {statuses}"
    # bulk endpoints are subject to the same allocation (§5.1)
    r = requests.post(f"{api(org)}/jobs/query", json={"operation": "query", "query": "SELECT Id FROM Account"}, headers=auth_headers(org))
    assert_api_error(r, 403, "REQUEST_LIMIT_EXCEEDED")
    # /services/data/ needs no allocation
    assert requests.get(f"{org.url}/services/data/").status_code == 200
    # raising the allowance restores service
    org.set_api_limit(100, used=0)
    assert requests.get(f"{api(org)}/limits", headers=auth_headers(org)).status_code == 200


def test_describe_if_modified_since(org):
    far_future = "Wed, 01 Jan 2098 00:00:00 GMT"
    r = requests.get(f"{api(org)}/sobjects/Account/describe", headers=auth_headers(org, **{"If-Modified-Since": far_future}))
    assert r.status_code == 304, r.status_code
    assert r.content == b""
    long_ago = "Thu, 01 Jan 1998 00:00:00 GMT"
    r = requests.get(f"{api(org)}/sobjects/Account/describe", headers=auth_headers(org, **{"If-Modified-Since": long_ago}))
    assert r.status_code == 200
    assert r.json()["name"] == "Account"


def test_write_value_formats(fresh_org):
    # §2.5 "Writes accept": datetime yyyy-MM-ddTHH:mm:ss(.SSS)(Z|+HH:mm|+HHmm); multipicklist joined by ';'
    org = fresh_org
    org.define_field("Account", {"name": "Seen__c", "type": "datetime"})
    org.define_field("Account", {"name": "Colors__c", "type": "multipicklist", "picklistValues": ["Red", "Green", "Blue"]})
    org.define_field("Account", {"name": "Ratio__c", "type": "percent", "precision": 5, "scale": 2})
    f = fields_by_name(describe(org, "Account"))
    assert f["Seen__c"]["type"] == "datetime" and f["Seen__c"]["soapType"] == "xsd:dateTime"
    assert f["Colors__c"]["type"] == "multipicklist" and f["Colors__c"]["soapType"] == "xsd:string"
    assert f["Ratio__c"]["type"] == "percent" and f["Ratio__c"]["soapType"] == "xsd:double"
    cases = {
        "2024-01-02T03:04:05Z": "2024-01-02T03:04:05.000+0000",
        "2024-01-02T03:04:05.250Z": "2024-01-02T03:04:05.250+0000",
        "2024-01-02T03:04:05+02:00": "2024-01-02T01:04:05.000+0000",
        "2024-01-02T03:04:05.000-0130": "2024-01-02T04:34:05.000+0000",
    }
    for sent, expected in cases.items():
        rid = create(org, "Account", {"Name": f"dt {sent}", "Seen__c": sent, "Colors__c": "Red;Blue", "Ratio__c": 12.5})
        rec = query_ok(org, f"SELECT Seen__c, Colors__c, Ratio__c FROM Account WHERE Id = '{rid}'")["records"][0]
        assert rec["Seen__c"] == expected, (sent, rec["Seen__c"])
        assert rec["Colors__c"] == "Red;Blue"
        assert rec["Ratio__c"] == 12.5


def test_uri_too_long_414(org):
    soql = "SELECT Id FROM Account WHERE Name = '" + "x" * 20000 + "'"
    r = requests.get(f"{api(org)}/query", params={"q": soql}, headers=auth_headers(org))
    assert r.status_code == 414, r.status_code


def test_wrong_method_405(org):
    rid = create(org, "Account", {"Name": unique_tag("M")})
    r = requests.put(f"{api(org)}/sobjects/Account/{rid}", json={"Name": "x"}, headers=auth_headers(org))
    assert r.status_code == 405, r.text
    assert retrieve(org, "Account", rid)["Name"] != "x"
