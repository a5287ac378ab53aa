"""§5 Bulk API 2.0 query jobs."""

from __future__ import annotations

import re

import requests
from sf_helpers import (
    CSV_DATETIME_RE,
    ID18_RE,
    REST_DATETIME_RE,
    all_result_pages,
    api,
    assert_api_error,
    auth_headers,
    create,
    create_query_job,
    delete,
    fetch_results,
    parse_csv,
    run_query_job,
    start_query_job,
    unique_tag,
    wait_query_job,
)


def test_create_job_info(org):
    r = create_query_job(org, "SELECT Id, Name FROM Account")
    assert r.status_code in (200, 201), r.text
    job = r.json()
    assert job["id"].startswith("750") and ID18_RE.match(job["id"])
    assert job["operation"] == "query"
    assert job["object"] == "Account"
    assert job["createdById"] == org.user_id
    assert REST_DATETIME_RE.match(job["createdDate"]), job["createdDate"]
    assert REST_DATETIME_RE.match(job["systemModstamp"])
    assert job["state"] in ("UploadComplete", "InProgress", "JobComplete")
    assert job["concurrencyMode"] == "Parallel"
    assert job["contentType"] == "CSV"
    assert job["apiVersion"] == 58.0 and isinstance(job["apiVersion"], (int, float))
    assert job["lineEnding"] == "LF"
    assert job["columnDelimiter"] == "COMMA"


def test_state_machine_and_job_info(org):
    job = start_query_job(org, "SELECT Id FROM Account")
    seen = [job["state"]]
    info = wait_query_job(org, job["id"])
    seen.append(info["state"])
    order = ["UploadComplete", "InProgress", "JobComplete"]
    assert all(s in order for s in seen), seen
    assert [order.index(s) for s in seen] == sorted(order.index(s) for s in seen), f"states went backwards: {seen}"
    assert info["state"] == "JobComplete"
    assert info["jobType"] == "V2Query"
    assert info["numberRecordsProcessed"] == org.count("Account")
    for k in ("retries", "totalProcessingTime", "isPkChunkingSupported", "lineEnding", "columnDelimiter"):
        assert k in info, f"job info lacks {k}"
    assert isinstance(info["isPkChunkingSupported"], bool)


def test_results_paging_with_max_records(org):
    n = org.count("Contact")
    info = run_query_job(org, "SELECT Id, LastName FROM Contact")
    pages = all_result_pages(org, info["id"], max_records=25)
    assert len(pages) >= -(-n // 25)
    ids = []
    for i, p in enumerate(pages):
        assert p.headers["Content-Type"].startswith("text/csv")
        header, rows = parse_csv(p.text)
        assert header == ["Id", "LastName"], f"page {i} header {header}"
        assert int(p.headers["Sforce-NumberOfRecords"]) == len(rows)
        assert len(rows) <= 25
        loc = p.headers["Sforce-Locator"]
        assert (loc == "null") == (i == len(pages) - 1)
        ids += [r[0] for r in rows]
    assert len(ids) == n == len(set(ids)) == info["numberRecordsProcessed"]


def test_locator_is_stable(org):
    info = run_query_job(org, "SELECT Id FROM Contact ORDER BY Id")
    first = fetch_results(org, info["id"], max_records=10)
    loc = first.headers["Sforce-Locator"]
    assert loc != "null"
    a = fetch_results(org, info["id"], locator=loc, max_records=10)
    b = fetch_results(org, info["id"], locator=loc, max_records=10)
    assert a.status_code == b.status_code == 200
    assert a.text == b.text
    assert parse_csv(a.text)[1] != parse_csv(first.text)[1]


def test_results_gzip_and_tls(org):
    info = run_query_job(org, "SELECT Id, Name, BillingCity FROM Account")
    r = requests.get(
        f"{org.https_url}/services/data/v{org.api_version}/jobs/query/{info['id']}/results",
        headers=auth_headers(org, Accept="text/csv", **{"Accept-Encoding": "gzip"}),
        verify=org.ca_file,
    )
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Encoding") == "gzip"
    header, rows = parse_csv(r.text)
    assert header == ["Id", "Name", "BillingCity"]
    assert len(rows) == org.count("Account")
    assert r.headers["Sforce-Locator"] == "null"


def test_result_pages_v58(org):
    n = org.count("Contact")
    info = run_query_job(org, "SELECT Id FROM Contact")
    url = f"{api(org)}/jobs/query/{info['id']}/resultPages"
    ids = []
    guard = 0
    while True:
        guard += 1
        assert guard < 50
        r = requests.get(url, headers=auth_headers(org))
        assert r.status_code == 200, r.text
        body = r.json()
        assert isinstance(body["resultPages"], list) and len(body["resultPages"]) <= 5
        for page in body["resultPages"]:
            ru = page["resultUrl"]
            assert ru.startswith(f"/services/data/v{org.api_version}/jobs/query/{info['id']}/results")
            pr = requests.get(org.url + ru, headers=auth_headers(org, Accept="text/csv"))
            assert pr.status_code == 200, pr.text
            header, rows = parse_csv(pr.text)
            assert header == ["Id"]
            assert int(pr.headers["Sforce-NumberOfRecords"]) == len(rows)
            ids += [x[0] for x in rows]
        if body["done"]:
            break
        nxt = body.get("nextRecordsUrl") or body.get("nextRecordUrl")
        assert nxt, body
        url = org.url + nxt
    assert len(ids) == n == len(set(ids))


def test_results_with_other_api_version_409(org):
    info = run_query_job(org, "SELECT Id FROM Account", version="58.0")
    r = fetch_results(org, info["id"], version="57.0")
    assert r.status_code == 409, r.text
    assert fetch_results(org, info["id"], version="58.0").status_code == 200


def test_unknown_job_404(org):
    r = requests.get(f"{api(org)}/jobs/query/750000000000000AAA", headers=auth_headers(org))
    e = assert_api_error(r, 404, "NOT_FOUND")
    assert e["message"] == "The requested resource does not exist"


def test_abort(org):
    job = start_query_job(org, "SELECT Id, Name FROM Lead")
    r = requests.patch(f"{api(org)}/jobs/query/{job['id']}", json={"state": "Aborted"}, headers=auth_headers(org))
    if r.status_code == 200:
        assert r.json()["state"] == "Aborted"
        info = requests.get(f"{api(org)}/jobs/query/{job['id']}", headers=auth_headers(org)).json()
        assert info["state"] == "Aborted"
        res = fetch_results(org, job["id"])
        assert res.status_code >= 400, "an aborted job has no results"
    else:
        # the job already finished: aborting a terminal job is refused
        assert_api_error(r, (400, 409))
        assert wait_query_job(org, job["id"])["state"] == "JobComplete"


def test_delete_completed_job(org):
    info = run_query_job(org, "SELECT Id FROM Account")
    r = requests.delete(f"{api(org)}/jobs/query/{info['id']}", headers=auth_headers(org))
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_api_error(requests.get(f"{api(org)}/jobs/query/{info['id']}", headers=auth_headers(org)), 404, "NOT_FOUND")
    assert fetch_results(org, info["id"]).status_code == 404


def test_delete_aborted_job(org):
    job = start_query_job(org, "SELECT Id FROM Lead")
    requests.patch(f"{api(org)}/jobs/query/{job['id']}", json={"state": "Aborted"}, headers=auth_headers(org))
    wait_query_job(org, job["id"])
    r = requests.delete(f"{api(org)}/jobs/query/{job['id']}", headers=auth_headers(org))
    assert r.status_code == 204, r.text


def test_delete_non_terminal_job(org):
    job = start_query_job(org, "SELECT Id, Name, Email FROM Lead")
    r = requests.delete(f"{api(org)}/jobs/query/{job['id']}", headers=auth_headers(org))
    if r.status_code == 400:
        e = assert_api_error(r, 400, "API_ERROR")
        assert "not terminated" in e["message"]
        assert requests.get(f"{api(org)}/jobs/query/{job['id']}", headers=auth_headers(org)).status_code == 200
    else:
        # the job had already reached a terminal state
        assert r.status_code == 204, r.text
        assert requests.get(f"{api(org)}/jobs/query/{job['id']}", headers=auth_headers(org)).status_code == 404


def test_list_jobs(org):
    job = start_query_job(org, "SELECT Id FROM Account")
    r = requests.get(f"{api(org)}/jobs/query", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    body = r.json()
    assert isinstance(body["done"], bool)
    assert job["id"] in [j["id"] for j in body["records"]]


def test_compound_field_rejected(org):
    r = create_query_job(org, "SELECT Id, BillingAddress FROM Account")
    e = assert_api_error(r, 400)
    assert "compound" in e["message"].lower(), e


def test_subquery_rejected(org):
    r = create_query_job(org, "SELECT Id, (SELECT Id FROM Contacts) FROM Account")
    if r.status_code in (200, 201):
        assert wait_query_job(org, r.json()["id"])["state"] == "Failed"
    else:
        assert_api_error(r, 400)


def test_unsupported_soql_rejected(org):
    for soql in ("SELECT COUNT() FROM Account", "SELECT Id FROM Account OFFSET 5", "SELECT Industry, COUNT(Id) FROM Account GROUP BY Industry"):
        r = create_query_job(org, soql)
        if r.status_code in (200, 201):
            assert wait_query_job(org, r.json()["id"])["state"] == "Failed", soql
        else:
            assert_api_error(r, 400)


def test_malformed_query_and_unknown_object(org):
    assert_api_error(create_query_job(org, "SELECT FROM"), 400)
    assert_api_error(create_query_job(org, "SELECT Id FROM NoSuchObject__c"), 400)
    assert_api_error(create_query_job(org, "SELECT Id FROM Account", operation="frobnicate"), 400)


def test_csv_value_formats(org):
    tag = unique_tag("BQ")
    a = create(org, "Account", {"Name": f'{tag} "quoted", name', "NumberOfEmployees": 12, "AnnualRevenue": 2500.25, "Description": "line1\nline2"})
    b = create(org, "Account", {"Name": f"{tag} plain"})
    info = run_query_job(
        org,
        "SELECT Id, Name, NumberOfEmployees, AnnualRevenue, IsDeleted, CreatedDate, "
        f"Description, Owner.Name FROM Account WHERE Name LIKE '{tag}%' ORDER BY Name",
    )
    r = fetch_results(org, info["id"])
    header, rows = parse_csv(r.text)
    assert header == ["Id", "Name", "NumberOfEmployees", "AnnualRevenue", "IsDeleted", "CreatedDate", "Description", "Owner.Name"], (
        "v50+: SELECT order; relationship columns as dotted paths"
    )
    by_id = {row[0]: dict(zip(header, row, strict=False)) for row in rows}
    ra, rb = by_id[a], by_id[b]
    assert ra["Name"] == f'{tag} "quoted", name'
    assert ra["Description"] == "line1\nline2"
    assert ra["NumberOfEmployees"] == "12"
    assert float(ra["AnnualRevenue"]) == 2500.25
    assert ra["IsDeleted"] == "false"
    assert CSV_DATETIME_RE.match(ra["CreatedDate"]), ra["CreatedDate"]
    assert ra["Owner.Name"]
    assert rb["NumberOfEmployees"] == "" and rb["AnnualRevenue"] == "" and rb["Description"] == "", "null = empty"


def test_column_delimiter_and_line_ending(org):
    info = run_query_job(org, "SELECT Id, Name FROM Account LIMIT 3", columnDelimiter="PIPE", lineEnding="CRLF")
    assert info["columnDelimiter"] == "PIPE" and info["lineEnding"] == "CRLF"
    r = fetch_results(org, info["id"])
    raw = r.content.decode()
    assert "\r\n" in raw
    assert raw.count("\r\n") == raw.count("\n"), "every line ends with CRLF"
    header, rows = parse_csv(raw, delimiter="|")
    assert [h.strip('"') for h in header] == ["Id", "Name"]
    assert len(rows) == 3


def test_empty_result(org):
    info = run_query_job(org, "SELECT Id FROM Account WHERE Name = 'no such name at all'")
    assert info["numberRecordsProcessed"] == 0
    r = fetch_results(org, info["id"])
    assert r.status_code == 200
    assert r.headers["Sforce-NumberOfRecords"] == "0"
    assert r.headers["Sforce-Locator"] == "null"
    assert parse_csv(r.text)[1] == []


def test_query_all_operation_sees_deleted(org):
    tag = unique_tag("BQA")
    live = create(org, "Account", {"Name": f"{tag}-live"})
    gone = create(org, "Account", {"Name": f"{tag}-gone"})
    delete(org, "Account", gone)
    soql = f"SELECT Id, IsDeleted FROM Account WHERE Name LIKE '{tag}%'"
    q = run_query_job(org, soql)
    rows = parse_csv(fetch_results(org, q["id"]).text)[1]
    assert [r[0] for r in rows] == [live]
    qa = run_query_job(org, soql, operation="queryAll")
    assert qa["operation"] == "queryAll"
    rows = parse_csv(fetch_results(org, qa["id"]).text)[1]
    assert dict((r[0], r[1]) for r in rows) == {live: "false", gone: "true"}


def test_parent_fields_allowed(org):
    info = run_query_job(org, "SELECT Id, Account.Name FROM Contact WHERE AccountId != null LIMIT 5")
    header, rows = parse_csv(fetch_results(org, info["id"]).text)
    assert header == ["Id", "Account.Name"]
    assert rows and all(re.match(r"^003", r[0]) for r in rows)


def test_column_order_by_version(org):
    # §5.3 / §9: v50.0+ SELECT order; <= 49.0 alphabetical
    new = run_query_job(org, "SELECT Name, Id FROM Account LIMIT 2", version="50.0")
    assert parse_csv(fetch_results(org, new["id"], version="50.0").text)[0] == ["Name", "Id"]
    old = run_query_job(org, "SELECT Name, Id FROM Account LIMIT 2", version="49.0")
    assert parse_csv(fetch_results(org, old["id"], version="49.0").text)[0] == ["Id", "Name"]


def test_result_pages_needs_v58(org):
    info = run_query_job(org, "SELECT Id FROM Account", version="57.0")
    r = requests.get(f"{api(org, '57.0')}/jobs/query/{info['id']}/resultPages", headers=auth_headers(org))
    assert r.status_code == 404, r.text


def test_result_pages_lowercase_path(org):
    info = run_query_job(org, "SELECT Id FROM Account")
    r = requests.get(f"{api(org)}/jobs/query/{info['id']}/resultpages", headers=auth_headers(org))
    assert r.status_code == 200, r.text
    assert r.json()["resultPages"]


def test_query_jobs_count_in_limits(fresh_org):
    org = fresh_org
    before = requests.get(f"{api(org)}/limits", headers=auth_headers(org)).json()
    run_query_job(org, "SELECT Id FROM Account")
    after = requests.get(f"{api(org)}/limits", headers=auth_headers(org)).json()
    assert after["DailyBulkV2QueryJobs"]["Remaining"] == before["DailyBulkV2QueryJobs"]["Remaining"] - 1
    assert after["DailyBulkApiBatches"]["Remaining"] == before["DailyBulkApiBatches"]["Remaining"], "query jobs do not consume DailyBulkApiBatches (§5.7)"
