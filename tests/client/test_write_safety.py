"""Writes under a hostile network and careless input: nothing written twice, nothing deleted
that no row named, and one result row per input row however the write ends."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from waits import wait_until

import sfarrow
from sfarrow.testing import Org


@pytest.fixture
def org():
    with Org(seed={"Account": 20}, https=False) as o:
        yield o


@pytest.fixture
def conn(org):
    return sfarrow.Connection(org.url, org.access_token, retries=3)


def names(n: int, tag: str) -> pa.Table:
    return pa.table({"Name": [f"{tag}-{i}" for i in range(n)]})


def count(conn, tag: str) -> int:
    return conn.query(f"SELECT COUNT() FROM Account WHERE Name LIKE '{tag}-%'")["count"][0].as_py()


def codes(result: pa.Table) -> dict:
    out: dict = {}
    for c in result["error_code"].to_pylist():
        out[c] = out.get(c, 0) + 1
    return out


# -- 1: an answer cut mid-body is an unknown outcome, never a reason to send again ----------
@pytest.mark.parametrize("fault", ["truncate", "drop_after"])
def test_a_collections_insert_whose_answer_was_lost_is_not_sent_twice(org, conn, fault):
    org.inject_fault(fault, nth=1, path="/composite/sobjects")
    result = conn.insert("Account", names(200, "cut"), api="rest", on_error="continue")
    assert result.num_rows == 200
    assert count(conn, "cut") == 200, "the insert was applied once, not retried"
    assert codes(result) == {"UNKNOWN_OUTCOME": 200}
    assert "may or may not" in result["error_message"][0].as_py()
    posts = [r for r in org.requests() if r["method"] == "POST" and r["path"].endswith("/composite/sobjects")]
    assert len(posts) == 1


@pytest.mark.parametrize("fault", ["truncate", "drop_after"])
def test_a_bulk_upload_whose_answer_was_lost_goes_to_a_new_job_once(org, conn, fault):
    org.inject_fault(fault, nth=1, path="/batches")
    result = conn.insert("Account", names(1500, "bulkcut"), api="bulk")
    assert result.num_rows == 1500 and pc.all(result["success"]).as_py()
    assert count(conn, "bulkcut") == 1500, "the first job was abandoned, never closed"
    puts = [r for r in org.requests() if r["method"] == "PUT"]
    assert len(puts) == 2 and puts[0]["path"] != puts[1]["path"], "one upload per job"


def test_an_update_cut_after_its_headers_is_sent_again(org, conn):
    ids = conn.insert("Account", names(3, "upd"))["id"].to_pylist()
    org.inject_fault("truncate", nth=1, path="/composite/sobjects")
    result = conn.update("Account", [{"Id": i, "Name": f"upd-x-{n}"} for n, i in enumerate(ids)], api="rest")
    assert pc.all(result["success"]).as_py(), "an update is safe to send twice"
    assert count(conn, "upd-x") == 3


def test_a_delete_whose_answer_was_lost_reports_the_rows_deleted(org, conn):
    ids = conn.insert("Account", names(5, "del"))["id"].to_pylist()
    org.inject_fault("truncate", nth=1, path="/composite/sobjects")
    result = conn.delete("Account", ids, api="rest")
    assert result["success"].to_pylist() == [True] * 5
    assert result["id"].to_pylist() == ids
    assert count(conn, "del") == 0
    deletes = [r for r in org.requests() if r["method"] == "DELETE"]
    assert len(deletes) == 2, "sent again after the cut answer"


def test_a_delete_of_records_deleted_before_still_fails(org, conn):
    ids = conn.insert("Account", names(2, "gone"))["id"].to_pylist()
    conn.delete("Account", ids)
    result = conn.delete("Account", ids, on_error="continue")
    assert codes(result) == {"ENTITY_IS_DELETED": 2}


# -- 2: a write that stops midway says what happened to every row --------------------------
def test_a_bad_value_fails_its_row_alone(org, conn):
    revenue = [float(i) for i in range(1000)]
    revenue[800] = float("nan")
    data = pa.table({"Name": [f"nan-{i}" for i in range(1000)], "AnnualRevenue": revenue})
    with pytest.raises(sfarrow.WriteError) as e:
        conn.insert("Account", data, api="rest")
    result = e.value.result
    assert isinstance(result, pa.Table) and result.num_rows == 1000
    assert codes(result) == {None: 999, "INVALID_INPUT": 1}
    bad = result.filter(pc.invert(result["success"])).to_pylist()[0]
    assert bad["row"] == 800 and "AnnualRevenue" in bad["error_message"] and "nan" in bad["error_message"].lower()
    assert count(conn, "nan") == 999


def test_an_input_that_fails_part_way_raises_with_every_row_accounted(org, conn):
    schema = pa.schema([("Name", pa.string())])

    def batches():
        for b in range(9):
            yield pa.record_batch([pa.array([f"reader-{b * 100 + i}" for i in range(100)])], schema=schema)
        raise ValueError("the source broke")

    reader = pa.RecordBatchReader.from_batches(schema, batches())
    with pytest.raises(sfarrow.WriteError) as e:
        conn.insert("Account", reader, api="rest")
    err = e.value
    assert err.error_code == "INPUT_FAILED" and "the source broke" in str(err) and "900 rows" in str(err)
    result = err.result
    assert result.num_rows == 900 and result["row"].to_pylist() == list(range(900))
    written = pc.sum(result["success"]).as_py()
    assert written == count(conn, "reader") and written > 0
    unsent = set(codes(result)) - {None}
    assert unsent <= {"NOT_SENT"}, unsent


def test_an_error_that_stops_the_write_carries_the_result(org, conn):
    org.set_api_limit(org.api_usage()[0] + 3)  # describe, then two calls
    data = names(1000, "limit")
    with pytest.raises(sfarrow.ApiLimitError) as e:
        conn.insert("Account", data, api="rest", parallel=1)
    result = e.value.result
    assert isinstance(result, pa.Table) and result.num_rows == 1000
    written = pc.sum(result["success"]).as_py()
    assert written == count_after_limit(org, "limit")
    assert set(codes(result)) - {None} <= {"REQUEST_LIMIT_EXCEEDED", "NOT_SENT"}
    assert codes(result).get("NOT_SENT", 0) > 0, "nothing is sent after the allowance is spent"


def count_after_limit(org, tag: str) -> int:
    org.set_api_limit(100_000)
    c = sfarrow.Connection(org.url, org.access_token)
    return count(c, tag)


# -- 3: ids never carry another parameter ---------------------------------------------------
@pytest.mark.parametrize("shape", ["junk,{id}", "junk&ids={id}", "{id}&allOrNone=true", " {id}", "{id}%2C{id}"])
def test_delete_deletes_only_ids_the_rows_name(org, conn, shape):
    victim = conn.insert("Account", [{"Name": "victim"}])["id"][0].as_py()
    result = conn.delete("Account", [shape.format(id=victim)], on_error="continue")
    assert codes(result) == {"MALFORMED_ID": 1}
    assert conn.query(f"SELECT Id FROM Account WHERE Id = '{victim}'").num_rows == 1
    assert not [r for r in org.requests() if r["method"] == "DELETE"], "nothing was sent"


def test_delete_takes_15_character_ids(org, conn):
    ids = conn.insert("Account", names(2, "short"))["id"].to_pylist()
    result = conn.delete("Account", [i[:15] for i in ids])
    assert result["success"].to_pylist() == [True, True] and result["id"].to_pylist() == ids


# -- 8: dicts with different keys ------------------------------------------------------------
def test_ragged_dicts_keep_every_key(org, conn):
    rows = [{"Name": "ragged-1"}, {"Name": "ragged-2", "Phone": "555-0102"}, {"Industry": "Energy", "Name": "ragged-3"}]
    conn.insert("Account", rows)
    got = {r["Name"]: r for r in conn.query("SELECT Name, Phone, Industry FROM Account WHERE Name LIKE 'ragged-%'").to_pylist()}
    assert got["ragged-2"]["Phone"] == "555-0102" and got["ragged-3"]["Industry"] == "Energy"
    assert got["ragged-1"]["Phone"] is None


# -- 11: dictionary (categorical) columns --------------------------------------------------
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_dictionary_columns_write_their_values(org, conn, api):
    n = 3000
    industry = pa.array([["Energy", "Media", "Retail"][i % 3] for i in range(n)]).dictionary_encode()
    data = pa.table({"Name": [f"dict-{api}-{i}" for i in range(n)], "Industry": industry})
    conn.insert("Account", data, api=api)
    got = conn.query(f"SELECT Name, Industry FROM Account WHERE Name LIKE 'dict-{api}-%'")
    by_name = dict(zip(got["Name"].to_pylist(), got["Industry"].to_pylist(), strict=False))
    assert len(by_name) == n and by_name[f"dict-{api}-4"] == "Media"


# -- 13: timestamps and dates outside any calendar -----------------------------------------
def test_timestamps_out_of_range_fail_their_row(org, conn):
    org.define_field("Account", {"name": "Seen__c", "type": "datetime"})
    seen = pa.array([2**62, 0, 1_700_000_000], type=pa.timestamp("s"))
    data = pa.table({"Name": ["ts-0", "ts-1", "ts-2"], "Seen__c": seen})
    result = conn.insert("Account", data, on_error="continue")
    assert codes(result) == {"INVALID_INPUT": 1, None: 2}
    assert "Seen__c" in result["error_message"][0].as_py()
    got = {r["Name"]: r["Seen__c"] for r in conn.query("SELECT Name, Seen__c FROM Account WHERE Name LIKE 'ts-%'").to_pylist()}
    assert set(got) == {"ts-1", "ts-2"}
    assert got["ts-1"] == dt.datetime(1970, 1, 1, tzinfo=dt.timezone.utc)


# -- 18: a field named twice ---------------------------------------------------------------
@pytest.mark.parametrize("second", ["Name", "name", "NAME"])
def test_duplicate_columns_are_refused_before_anything_is_sent(org, conn, second):
    data = pa.Table.from_arrays([pa.array(["dup-a"]), pa.array(["dup-b"])], names=["Name", second])
    org.clear_requests()
    with pytest.raises(sfarrow.ConfigurationError, match="more than once"):
        conn.insert("Account", data)
    assert not [r for r in org.requests() if "/composite" in r["path"] or "/jobs" in r["path"]]


def test_a_lookup_set_twice_is_refused(org, conn):
    data = pa.table({"LastName": ["x"], "AccountId": ["001000000000000AAA"], "Account.Ext_Id__c": ["A-1"]})
    with pytest.raises(sfarrow.ConfigurationError, match="Account"):
        conn.insert("Contact", data)


# -- 19: the text #N/A ---------------------------------------------------------------------
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_the_text_na_lands_as_text_whichever_api_ran(org, conn, api):
    rows = [{"Name": f"na-{api}-{i}", "Description": "#N/A" if i == 0 else "plain"} for i in range(3)]
    result = conn.insert("Account", rows, api=api)
    assert pc.all(result["success"]).as_py()
    got = {r["Name"]: r["Description"] for r in conn.query(f"SELECT Name, Description FROM Account WHERE Name LIKE 'na-{api}-%'").to_pylist()}
    assert got == {f"na-{api}-0": "#N/A", f"na-{api}-1": "plain", f"na-{api}-2": "plain"}


def test_a_null_still_clears_a_field_on_bulk(org, conn):
    ids = conn.insert("Account", [{"Name": "clear-1", "Description": "text"}])["id"].to_pylist()
    conn.update("Account", pa.table({"Id": ids, "Description": pa.array([None], pa.string())}), api="bulk")
    assert conn.query(f"SELECT Description FROM Account WHERE Id = '{ids[0]}'")["Description"][0].as_py() is None


# -- 22: a Bulk job that fails as a whole ----------------------------------------------------
def test_a_failed_ingest_job_fails_every_row_with_its_message(org, conn):
    org.fail_ingest_jobs("InvalidBatch : the file could not be read")
    result = conn.insert("Account", names(1200, "jobfail"), api="bulk", on_error="continue")
    assert codes(result) == {"BULK_JOB_FAILED": 1200}
    assert "the file could not be read" in result["error_message"][0].as_py()
    assert count(conn, "jobfail") == 0


# -- 26: input that cannot be typed ---------------------------------------------------------
def test_mixed_types_in_input_are_configuration_errors(conn):
    pd = pytest.importorskip("pandas")
    with pytest.raises(sfarrow.ConfigurationError, match="one type"):
        conn.insert("Account", pd.DataFrame({"Name": ["a", 1]}))
    with pytest.raises(sfarrow.ConfigurationError, match="Name"):
        conn.insert("Account", [{"Name": "a"}, {"Name": 2}])
    with pytest.raises(sfarrow.ConfigurationError):
        conn.insert("Account", ["not a dict"])


def test_unwritable_arrow_types_are_refused_before_anything_is_sent(org, conn):
    data = pa.table({"Name": ["x"], "Description": pa.array([[1, 2]])})
    with pytest.raises(sfarrow.ConfigurationError, match="Description"):
        conn.insert("Account", data)


def test_interrupted_write_carries_its_result(org, conn):
    """Ctrl-C during a write: KeyboardInterrupt carries the result table (rows in flight are
    UNKNOWN_OUTCOME, rows never sent NOT_SENT)."""
    import signal
    import subprocess
    import sys
    import textwrap

    child = textwrap.dedent(
        f"""
        import sys, sfarrow, pyarrow as pa
        conn = sfarrow.Connection({org.url!r}, {org.access_token!r})
        data = pa.table({{"Name": [f"intr-{{i}}" for i in range(600)]}})
        print("ready", flush=True)
        try:
            conn.insert("Account", data, api="rest", parallel=1)
        except KeyboardInterrupt as e:
            r = e.result
            codes = sorted(set(c for c in r["error_code"].to_pylist() if c))
            print("interrupted", r.num_rows, sum(r["success"].to_pylist()), ",".join(codes), flush=True)
            sys.exit(0)
        sys.exit(3)
        """
    )
    org.inject_fault("delay", path="/composite/sobjects", delay=30.0, times=1)
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"

    # The held call has reached the org (its fault struck): the write waits on it now.
    wait_until(lambda: "delay" in org.faults_struck(), timeout=20, what="the held call to reach the org")
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, out
    _, rows, written, found = out.split()
    assert int(rows) == 600 and int(written) == 0
    assert set(found.split(",")) <= {"UNKNOWN_OUTCOME", "NOT_SENT"} and "NOT_SENT" in found


# -- promises of the README's "Writing" section, each broken on purpose once -----------------
def test_locked_rows_are_sent_again_on_their_own(org, conn):
    ids = conn.query("SELECT Id FROM Account ORDER BY Id LIMIT 6")["Id"].to_pylist()
    org.lock_records(ids[:2], times=1)
    org.clear_requests()
    result = conn.update("Account", [{"Id": i, "Phone": "555-0100"} for i in ids], api="rest")
    assert result["success"].to_pylist() == [True] * 6
    calls = [r for r in org.requests() if r["path"].endswith("/composite/sobjects")]
    assert len(calls) == 2, "one call for all six, one more for the two locked rows alone"
    assert {r["Phone"] for r in conn.query("SELECT Phone FROM Account WHERE Phone = '555-0100'").to_pylist()} == {"555-0100"}
    assert conn.query("SELECT COUNT() FROM Account WHERE Phone = '555-0100'")["count"][0].as_py() == 6


def test_a_row_that_stays_locked_fails_alone(org, conn):
    ids = conn.query("SELECT Id FROM Account ORDER BY Id LIMIT 3")["Id"].to_pylist()
    org.lock_records(ids[:1], times=100)
    result = conn.update("Account", [{"Id": i, "Phone": "555-0101"} for i in ids], api="rest", on_error="continue")
    assert result["success"].to_pylist() == [False, True, True]
    assert result["error_code"][0].as_py() == "UNABLE_TO_LOCK_ROW"
    org.lock_records(ids[:1], times=0)


def test_a_refused_request_429_is_sent_again_once(org, conn):
    org.clear_requests()
    org.inject_fault("429", nth=1, path="/composite/sobjects")
    result = conn.insert("Account", names(10, "throttled"), api="rest")
    assert result["success"].to_pylist() == [True] * 10
    statuses = [r["status"] for r in org.requests() if r["path"].endswith("/composite/sobjects")]
    assert statuses == [429, 200], "the fault fired, and the call was sent again"
    assert count(conn, "throttled") == 10


def test_a_write_stopped_by_a_session_that_cannot_renew_carries_its_result(org):
    import threading
    import time

    # A session handed over as it is (no grant to renew it with), revoked while the write runs.
    token = org.access_token
    conn = sfarrow.Connection(org.url, token)
    org.inject_fault("delay", path="/composite/sobjects", delay=0.3)
    org.clear_requests()

    def revoke_after_the_first_call():
        deadline = time.monotonic() + 30
        while not [r for r in org.requests() if r["path"].endswith("/composite/sobjects")]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        import requests

        requests.post(org.url + "/services/oauth2/revoke", data={"token": token})

    revoker = threading.Thread(target=revoke_after_the_first_call)
    revoker.start()
    with pytest.raises(sfarrow.AuthenticationError) as e:
        conn.insert("Account", names(1000, "revoked"), api="rest", parallel=1)
    revoker.join()
    result = e.value.result
    assert isinstance(result, pa.Table) and result.num_rows == 1000
    assert result["row"].to_pylist() == list(range(1000))
    assert codes(result).get("NOT_SENT", 0) > 0
    org.clear_faults()
    other = sfarrow.Connection(org.url, _fresh_token(org))
    assert pc.sum(result["success"]).as_py() == count(other, "revoked")


def _fresh_token(org) -> str:
    import requests

    answer = requests.post(org.token_url, data={"grant_type": "client_credentials", "client_id": org.client_id, "client_secret": org.client_secret}).json()
    return answer["access_token"]


def test_four_collections_calls_are_in_flight_at_once(org, conn):
    # Each call is held a second: with four in flight, the four answers of an 800-row insert
    # come back together; one after another they would be a second apart.
    org.inject_fault("delay", path="/composite/sobjects", delay=1.0)
    org.clear_requests()
    conn.insert("Account", names(800, "parallel"), api="rest")
    times = sorted(r["time"] for r in org.requests() if r["path"].endswith("/composite/sobjects"))
    assert len(times) == 4 and times[-1] - times[0] < 0.9, times


def test_bulk_uploads_split_at_50_mb(org, conn):
    text = "x" * 2000
    data = pa.table({"Name": [f"big-{i}" for i in range(30_000)], "Description": [text] * 30_000})
    org.clear_requests()
    result = conn.insert("Account", data, api="bulk")
    assert pc.sum(result["success"]).as_py() == 30_000
    jobs = [r for r in org.requests() if r["method"] == "POST" and r["path"].endswith("/jobs/ingest")]
    uploads = [r for r in org.requests() if r["method"] == "PUT" and r["path"].endswith("/batches")]
    assert len(jobs) == 2 and len(uploads) == 2, "60 MB of CSV is two jobs"
    assert count(conn, "big") == 30_000
