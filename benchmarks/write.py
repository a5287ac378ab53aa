"""Write benchmark: sfarrow against simple-salesforce on the emulator (not a test).

A 100,000-row Account upsert by external id (sfarrow Bulk 2.0 vs simple-salesforce
``bulk2.upsert``) and a 1,000-row insert (sfarrow sObject Collections vs simple-salesforce
posting the same collections), each in its own process, with time and peak RSS.

    python benchmarks/write.py --upsert-rows 100000 --insert-rows 1000
    python benchmarks/write.py --stream-rows 1000000   # also: write vs write_async, streamed

``--stream-rows N`` adds an N-row Bulk insert from a stream of 20,000-row batches made as
they are pulled, through ``write`` and through ``write_async``: the peak RSS of each says
whether the input is held whole (it should not be, by either face).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _harness import emulator, measure, parser, run_in_process, session


def data(n: int, kind: str):
    import pyarrow as pa

    return pa.table(
        {
            "Ext_Id__c": [f"W-{kind}-{i:07d}" for i in range(n)],
            "Name": [f'Company {i}, "quoted"' for i in range(n)],
            "NumberOfEmployees": pa.array(range(n), pa.int32()),
            "AnnualRevenue": pa.array([float(i * 10) for i in range(n)]),
            "Industry": ["Energy"] * n,
            "Phone": ["(415) 555-0100"] * n,
        }
    )


def stream(n: int):
    import pyarrow as pa

    schema = pa.schema([("Name", pa.string()), ("NumberOfEmployees", pa.int32()), ("Industry", pa.string())])

    def batches():
        for start in range(0, n, 20_000):
            k = min(20_000, n - start)
            names = pa.array([f"stream-{i}" for i in range(start, start + k)])
            yield pa.record_batch([names, pa.array(range(k), pa.int32()), pa.array(["Energy"] * k)], schema=schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def run_stream_case(case: str, url: str, token: str, ca: str, n: int) -> None:
    import asyncio

    import sfarrow

    conn = sfarrow.Connection(url, token, ca_file=ca)
    conn.schema("Account")

    def work() -> int:
        if case.endswith("async"):
            result = asyncio.run(conn.write_async("insert", "Account", stream(n), api="bulk"))
        else:
            result = conn.write("insert", "Account", stream(n), api="bulk")
        return sum(result["success"].to_pylist())

    measure(work)


def run_case(case: str, url: str, token: str, ca: str, n: int) -> None:
    """Sets up outside the clock (data, connection, one warm-up call), then measures the write."""
    if case.startswith("sfarrow-stream"):
        return run_stream_case(case, url, token, ca, n)
    table = data(n, case)
    if case.startswith("sfarrow"):
        import sfarrow

        conn = sfarrow.Connection(url, token, ca_file=ca)
        conn.schema("Account")

        def work() -> int:
            if case.endswith("upsert"):
                result = conn.upsert("Account", table, external_id="Ext_Id__c", api="bulk")
            else:
                result = conn.insert("Account", table, api="rest")
            return sum(result["success"].to_pylist())

        measure(work)
        return
    from simple_salesforce import Salesforce

    sf = Salesforce(instance_url=url, session_id=token, version="58.0", session=session(ca))
    sf.Account.describe()

    def ssf_work() -> int:
        if case.endswith("upsert"):
            with tempfile.TemporaryDirectory() as d:
                path = os.path.join(d, "data.csv")
                table.to_pandas().to_csv(path, index=False)
                results = sf.bulk2.Account.upsert(csv_file=path, external_id_field="Ext_Id__c")
                return sum(int(r["numberRecordsProcessed"]) - int(r["numberRecordsFailed"]) for r in results)
        rows = table.to_pylist()
        ok = 0
        for i in range(0, len(rows), 200):
            body = {"allOrNone": False, "records": [{"attributes": {"type": "Account"}, **r} for r in rows[i : i + 200]]}
            res = sf.restful("composite/sobjects", method="POST", data=json.dumps(body))
            ok += sum(1 for r in res if r["success"])
        return ok

    measure(ssf_work)


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--upsert-rows", type=int, default=100_000)
    p.add_argument("--insert-rows", type=int, default=1_000)
    p.add_argument("--stream-rows", type=int, default=0)
    p.add_argument("--rows", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case:
        import pyarrow  # noqa: F401

        if a.case.startswith("sfarrow"):
            import sfarrow  # noqa: F401
        else:
            import pandas  # noqa: F401
            import simple_salesforce  # noqa: F401
        run_case(a.case, a.url, a.token, a.ca, a.rows)
        return
    results = {}
    with emulator({}) as org:
        cases = [("ssf-upsert", a.upsert_rows), ("sfarrow-upsert", a.upsert_rows), ("ssf-insert", a.insert_rows), ("sfarrow-insert", a.insert_rows)]
        if a.stream_rows:
            cases += [("sfarrow-stream", a.stream_rows), ("sfarrow-stream-async", a.stream_rows)]
        for case, n in cases:
            r = run_in_process(__file__, case, org, ["--rows", str(n)])
            assert r["rows"] == n, (case, r)
            results[case] = r
            print(f"{case:16} {n:>9,} rows {r['seconds']:8.2f} s  peak RSS {r['rss_mb']:8.0f} MB", flush=True)
    for op in ("upsert", "insert"):
        print(
            f"{op}: simple-salesforce / sfarrow = {results['ssf-' + op]['seconds'] / results['sfarrow-' + op]['seconds']:.2f}x time, "
            f"{results['ssf-' + op]['rss_mb'] / results['sfarrow-' + op]['rss_mb']:.2f}x peak RSS"
        )
    if a.stream_rows:
        sync, asynchronous = results["sfarrow-stream"], results["sfarrow-stream-async"]
        print(
            f"streamed insert: write_async / write = {asynchronous['rss_mb'] / sync['rss_mb']:.2f}x peak RSS, {asynchronous['seconds'] / sync['seconds']:.2f}x time"
        )


if __name__ == "__main__":
    main()
