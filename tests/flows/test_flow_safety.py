"""Flows that must not lose a change: incremental windows that end at the org's clock less a
lag, state files that belong to one flow, filters that stay one condition, and nested fields
written to flat files."""

from __future__ import annotations

import json
import threading
import time

import pyarrow.csv as pcsv
import pyarrow.dataset as ds
import pytest
import requests
from waits import next_org_second

import sfarrow
from sfarrow import destinations as d
from sfarrow import sources as s
from sfarrow.cli import main
from sfarrow.testing import Org


@pytest.fixture
def org():
    with Org(seed={"Account": 50, "Contact": 20}, https=False) as o:
        yield o


@pytest.fixture
def conn(org):
    return sfarrow.Connection(org.url, org.access_token)


def ids_read(out) -> list[str]:
    return ds.dataset(out).to_table()["Id"].to_pylist()


# -- 6: a change made while a run reads, or committed late, is read by a later run -------------
def test_a_change_made_while_a_run_reads_is_never_lost(org, conn, tmp_path):
    org.seed("Account", 4950)  # 5000 records: three REST pages
    out = tmp_path / "out"
    flow = sfarrow.Flow(
        s.SalesforceSource(conn, "Account", fields=["Id", "Name"], incremental="SystemModstamp", api="rest", lag=0),
        d.ParquetDestination(out),
        state=tmp_path / "state.json",
        progress=False,
    )
    ids = conn.query("SELECT Id FROM Account ORDER BY Id")["Id"].to_pylist()
    early, late = ids[10], ids[4990]  # on the first page and the last
    other = sfarrow.Connection(org.url, org.access_token)
    org.inject_fault("delay", nth=1, path="/query/", delay=1.0)

    def change_while_reading():
        deadline = time.monotonic() + 20
        while not [r for r in org.requests() if r["path"].endswith("/query")]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        other.update("Account", [{"Id": early, "Name": "changed early"}, {"Id": late, "Name": "changed late"}])

    t = threading.Thread(target=change_while_reading)
    t.start()
    first = flow.run()
    t.join()
    assert first.records_read == 5000
    next_org_second(conn)
    second = flow.run()
    assert second.records_read == 2, "both changes arrive in the next run"
    delta = ds.dataset(second.paths).to_table().to_pylist()
    assert {r["Id"]: r["Name"] for r in delta} == {early: "changed early", late: "changed late"}
    assert len(ids_read(out)) == 5002


def test_a_late_commit_inside_the_lag_is_read_exactly_once(org, conn, tmp_path):
    out = tmp_path / "out"
    flow = sfarrow.Flow(
        s.SalesforceSource(conn, "Account", fields=["Id", "Name"], incremental="SystemModstamp", lag=3),
        d.ParquetDestination(out),
        state=tmp_path / "state.json",
        progress=False,
    )
    assert flow.run().records_read == 50
    (late,) = org.commit_late("Account", [{"Name": "late commit"}], age=1.5)
    reads = [flow.run().records_read]
    time.sleep(3.5)
    reads.append(flow.run().records_read)
    reads.append(flow.run().records_read)
    assert reads == [0, 1, 0], reads
    assert ids_read(out).count(late) == 1


def test_the_window_and_lag_are_recorded(org, conn, tmp_path):
    state = tmp_path / "state.json"
    flow = sfarrow.Flow(
        s.SalesforceSource(conn, "Account", fields=["Id"], incremental="SystemModstamp", lag=120),
        d.ArrowDestination(),
        state=state,
        progress=False,
    )
    run = flow.run()
    org_now = conn.server_time()
    saved = json.loads(state.read_text())
    assert saved["watermark"] == run.watermark
    watermark = sfarrow.sources.watermark_literal(org_now.replace(tzinfo=None))
    assert run.watermark < watermark, "the window ends lag seconds behind the org's clock"
    assert saved["source"] == {"object": "Account", "incremental": "SystemModstamp", "where": None, "include_deleted": False}


@pytest.mark.parametrize("lag", [-1, "5", float("nan")])
def test_lag_must_be_seconds(conn, lag):
    with pytest.raises(sfarrow.ConfigurationError, match="lag"):
        s.SalesforceSource(conn, "Account", incremental="SystemModstamp", lag=lag)


# -- 15: a state file belongs to one flow --------------------------------------------------
def test_a_state_file_from_another_flow_is_refused(org, conn, tmp_path):
    state = tmp_path / "state.json"

    def flow(obj, where=None):
        return sfarrow.Flow(
            s.SalesforceSource(conn, obj, fields=["Id"], incremental="SystemModstamp", where=where),
            d.ArrowDestination(),
            state=state,
            progress=False,
        )

    assert flow("Contact").run().records_read == 20
    for other in (flow("Account"), flow("Contact", where="Email != null")):
        with pytest.raises(sfarrow.ConfigurationError, match="another flow"):
            other.run()
    assert flow("Contact").run().records_read == 0


# -- 16: corrupt state files and watermarks that are not datetimes ----------------------------
@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "null",
        '"2026-01-01T00:00:00Z"',
        "{not json",
        '{"watermark": 5}',
        '{"watermark": "2026-01-01T00:00:00Z OR Id != null"}',
        '{"watermark": "2026-02-30T00:00:00Z"}',
        '{"watermark": "yesterday"}',
    ],
)
def test_corrupt_state_files_are_configuration_errors(conn, tmp_path, text):
    state = tmp_path / "state.json"
    state.write_text(text)
    flow = sfarrow.Flow(
        s.SalesforceSource(conn, "Account", fields=["Id"], incremental="SystemModstamp"),
        d.ArrowDestination(),
        state=state,
        progress=False,
    )
    with pytest.raises(sfarrow.ConfigurationError, match="state file"):
        flow.run()


def test_an_older_state_file_without_a_source_is_taken(conn, tmp_path):
    state = tmp_path / "state.json"
    state.write_text('{"watermark": "2020-01-01T00:00:00Z", "last_run": {}}')
    flow = sfarrow.Flow(
        s.SalesforceSource(conn, "Account", fields=["Id"], incremental="SystemModstamp"),
        d.ArrowDestination(),
        state=state,
        progress=False,
    )
    run = flow.run()
    assert run.since == "2020-01-01T00:00:00.000Z" and run.records_read > 0


def test_the_cli_prints_one_line_for_a_corrupt_state(org, tmp_path, capsys):
    (tmp_path / "state.json").write_text("[]")
    flow_file = tmp_path / "flow.toml"
    flow_file.write_text(
        f"""
[connection]
instance_url = "{org.url}"
access_token = "{org.access_token}"
[source]
object = "Account"
fields = ["Id"]
incremental = "SystemModstamp"
[destination]
type = "parquet"
path = "out"
[flow]
state = "state.json"
progress = false
"""
    )
    assert main(["run", str(flow_file)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("sfarrow: ConfigurationError:") and "\n" not in err and "Traceback" not in err


# -- 17: a filter is one condition -------------------------------------------------------------
@pytest.mark.parametrize(
    "where",
    ["Name = 'x') OR (Id != null", "Name = 'x' AND Id != null OR Name = 'y'", "Name = 'x' LIMIT 1", "Name = 'x') --"],
)
def test_a_filter_cannot_escape_its_parentheses(org, conn, tmp_path, where):
    org.clear_requests()
    with pytest.raises(sfarrow.ConfigurationError, match="cannot make its query"):
        s.SalesforceSource(conn, "Account", fields=["Id"], where=where, incremental="SystemModstamp")
    assert org.requests() == [], "nothing was sent"


def test_a_filter_with_or_stays_inside_its_parentheses(org, conn, tmp_path):
    conn.insert("Account", [{"Name": "f-a"}, {"Name": "f-b"}, {"Name": "f-c"}])
    next_org_second(conn)
    source = s.SalesforceSource(conn, "Account", fields=["Id", "Name"], where="Name = 'f-a' OR Name = 'f-b'", incremental="SystemModstamp", lag=0)
    dest = d.ArrowDestination()
    sfarrow.Flow(source, dest, state=tmp_path / "state.json", progress=False).run()
    assert dest.table is not None and sorted(dest.table["Name"].to_pylist()) == ["f-a", "f-b"]


def test_the_org_refuses_and_and_or_mixed_without_parentheses(org):
    r = requests.get(
        f"{org.url}/services/data/v58.0/query",
        params={"q": "SELECT Id FROM Account WHERE Name = 'a' AND Name = 'b' OR Name = 'c'"},
        headers={"Authorization": f"Bearer {org.access_token}"},
        timeout=10,
    )
    assert r.status_code == 400 and r.json()[0]["errorCode"] == "MALFORMED_QUERY"
    assert "unexpected token: 'OR'" in r.json()[0]["message"]


# -- 26: the most common first flow: Accounts (with an address) to CSV -------------------------
def test_an_account_flow_to_csv_flattens_the_address(conn, tmp_path):
    fields = ["Id", "Name", "BillingAddress", "ShippingAddress"]
    run = sfarrow.Flow(s.SalesforceSource(conn, "Account", fields=fields), d.CsvDestination(tmp_path / "csv"), progress=False).run()
    assert run.records_written == 50
    table = pcsv.read_csv(run.paths[0])
    assert "BillingAddress.city" in table.column_names and "ShippingAddress.postalCode" in table.column_names
    source = conn.query("SELECT Id, BillingAddress FROM Account")
    cities = {r["Id"]: (r["BillingAddress"] or {}).get("city") for r in source.to_pylist()}
    got = {i: c or None for i, c in zip(table["Id"].to_pylist(), table["BillingAddress.city"].to_pylist(), strict=False)}
    assert got == cities


def test_an_account_flow_to_json_lines_nests_the_address(conn, tmp_path):
    run = sfarrow.Flow(s.SalesforceSource(conn, "Account", fields=["Id", "BillingAddress"]), d.JsonLinesDestination(tmp_path / "jl"), progress=False).run()
    rows = [json.loads(line) for p in run.paths for line in open(p, encoding="utf-8")]
    assert len(rows) == 50 and any(isinstance(r["BillingAddress"], dict) for r in rows)


def test_child_records_go_to_csv_as_json(conn, tmp_path):
    reader = conn.query_batches("SELECT Id, (SELECT LastName FROM Contacts) FROM Account")
    out = tmp_path / "children.csv"
    writer = d.CsvDestination(tmp_path).open_file(out, reader.schema)
    for b in reader:
        writer.write_batch(b)
    writer.close()
    table = pcsv.read_csv(out)
    texts = [t for t in table["Contacts"].to_pylist() if t]
    assert texts and all(isinstance(json.loads(t), list) for t in texts)


def test_cli_query_to_csv_with_an_address(org, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("SF_ACCESS_TOKEN", org.access_token)
    out = tmp_path / "a.csv"
    assert main(["query", "SELECT Id, BillingAddress FROM Account", "-o", str(out), "--instance-url", org.url]) == 0
    assert "BillingAddress.street" in pcsv.read_csv(out).column_names
