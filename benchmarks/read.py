"""Read benchmark: sfarrow against simple-salesforce on emulator data (not a test).

Starts an emulator in its own process with N Account rows (~30 columns of every type), then runs
each case in a fresh process and prints wall time and peak RSS (the client process only):

  sfarrow rest / bulk (gzip on and off), simple-salesforce query_all + pandas.json_normalize,
  simple-salesforce bulk2 download + pandas.read_csv, and the floor: the same Bulk CSV pages
  fetched (4 at a time) with no decoding, gzipped (floor-gzip, to compare with sfarrow-bulk)
  and not (floor, to compare with sfarrow-bulk-nogzip).

    python benchmarks/read.py --rows 100000 1000000
    python benchmarks/read.py --rows 1000000 --repeat 3   # medians, for a noisy machine
    python benchmarks/read.py --rows 2000000 --cases sfarrow-batches sfarrow-batches-async sfarrow-batches-all
      (streaming RSS. sfarrow-batches: the 31 columns above, streamed; -async: the same through
      query_batches_async; sfarrow-batches-all: every Account field, as a flow with
      fields=None reads them)

Build with ``maturin develop --release`` first.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))
from _harness import emulator, measure, parser, run_in_process, session

FIELDS = (
    "Id, Name, Ext_Id__c, Type, ParentId, BillingStreet, BillingCity, BillingState, BillingPostalCode, "
    "BillingCountry, BillingLatitude, BillingLongitude, Phone, Website, Industry, AnnualRevenue, "
    "NumberOfEmployees, Description, Rating, CustomerPriority__c, Regions__c, Segment__c, Discount__c, "
    "Health_Score__c, Is_Partner__c, Total_Units__c, SLA_Expiration__c, Last_Contacted_At__c, "
    "Preferred_Call_Time__c, CreatedDate, SystemModstamp"
)
SOQL = f"SELECT {FIELDS} FROM Account"
CASES = ["floor", "floor-gzip", "sfarrow-bulk", "sfarrow-bulk-nogzip", "sfarrow-rest", "sfarrow-rest-nogzip", "ssf-bulk2", "ssf-query-all"]


def run_case(case: str, url: str, token: str, ca: str) -> int:
    if case.startswith("sfarrow"):
        import sfarrow

        conn = sfarrow.Connection(url, token, ca_file=ca, gzip="nogzip" not in case)
        api = "bulk" if "bulk" in case else "rest"
        if case == "sfarrow-batches":
            return sum(b.num_rows for b in conn.query_batches(SOQL, api="bulk"))
        if case == "sfarrow-batches-async":
            import asyncio

            async def streamed() -> int:
                return sum([b.num_rows async for b in conn.query_batches_async(SOQL, api="bulk")])

            return asyncio.run(streamed())
        if case == "sfarrow-batches-all":
            every = ", ".join(conn.schema("Account").names)
            return sum(b.num_rows for b in conn.query_batches(f"SELECT {every} FROM Account", api="bulk"))
        return conn.query(SOQL, api=api).num_rows
    if case.startswith("floor"):
        from concurrent.futures import ThreadPoolExecutor

        s = session(ca)
        h = {"Authorization": f"Bearer {token}"}
        api = f"{url}/services/data/v58.0"
        job = s.post(f"{api}/jobs/query", json={"operation": "query", "query": SOQL}, headers=h).json()["id"]
        while s.get(f"{api}/jobs/query/{job}", headers=h).json()["state"] != "JobComplete":
            time.sleep(0.05)
        urls, nxt = [], f"{api}/jobs/query/{job}/resultPages?maxRecords=25000"
        while nxt:
            page = s.get(nxt, headers=h).json()
            urls += [url + p["resultUrl"] for p in page["resultPages"]]
            nxt = None if page["done"] else url + page["nextRecordsUrl"]

        encoding = "gzip" if case == "floor-gzip" else "identity"

        def fetch(u: str) -> int:
            # The bytes as they come off the wire: compressed ones stay compressed.
            r = session(ca).get(u, headers={**h, "Accept-Encoding": encoding}, stream=True)
            r.raw.read(decode_content=False)
            return int(r.headers["Sforce-NumberOfRecords"])

        with ThreadPoolExecutor(4) as pool:
            return sum(pool.map(fetch, urls))
    import pandas as pd
    from simple_salesforce import Salesforce

    sf = Salesforce(instance_url=url, session_id=token, version="58.0", session=session(ca))
    if case == "ssf-query-all":
        records = sf.query_all(SOQL)["records"]
        return len(pd.json_normalize(records))
    with tempfile.TemporaryDirectory() as d:
        sf.bulk2.Account.download(SOQL, path=d, max_records=50000)
        frames = [pd.read_csv(os.path.join(d, f)) for f in sorted(os.listdir(d))]
        return len(pd.concat(frames))
    raise SystemExit(f"unknown case {case}")


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, nargs="+", default=[100_000])
    p.add_argument("--cases", nargs="+", default=CASES)
    p.add_argument("--repeat", type=int, default=1, help="runs of each case; figures are medians")
    a = p.parse_args()
    if a.case:
        # Imports are not part of a case's time: each library is loaded before the clock starts.
        if a.case.startswith("sfarrow"):
            import pyarrow  # noqa: F401

            import sfarrow  # noqa: F401
        elif a.case.startswith("ssf"):
            import pandas  # noqa: F401
            import simple_salesforce  # noqa: F401
        measure(lambda: run_case(a.case, a.url, a.token, a.ca))
        return
    for n in a.rows:
        runs: dict[str, list[dict]] = {case: [] for case in a.cases}
        with emulator({"Account": n}) as org:
            # Rounds interleave the cases, so a noisy minute on a shared machine hits them alike.
            for round_ in range(a.repeat):
                for case in a.cases:
                    if a.repeat > 1 and round_ > 0 and case.startswith("ssf-query-all"):
                        continue  # minutes a run: once is enough to compare against
                    try:
                        r = run_in_process(__file__, case, org, [])
                    except RuntimeError as e:
                        print(e)
                        continue
                    assert r["rows"] == n, (case, r)
                    runs[case].append(r)
                    print(
                        f"{n:>9,} rows  {case:22} {r['seconds']:8.2f} s  peak RSS {r['rss_mb']:6.0f} MB"
                        f"  CPU client {r['client_cpu']:6.2f} s  server {r['server_cpu']:6.2f} s",
                        flush=True,
                    )
        results = {case: statistics.median(r["seconds"] for r in rs) for case, rs in runs.items() if rs}
        if a.repeat > 1:
            for case, seconds in results.items():
                print(f"{n:>9,} rows  {case:22} {seconds:8.2f} s  median of {len(runs[case])}")
        pairs = [("ssf-bulk2", "sfarrow-bulk"), ("ssf-query-all", "sfarrow-rest"), ("sfarrow-bulk", "floor-gzip"), ("sfarrow-bulk-nogzip", "floor")]
        for slow, fast in pairs:
            if slow in results and fast in results:
                print(f"{n:>9,} rows  {slow} / {fast} = {results[slow] / results[fast]:.2f}x")


if __name__ == "__main__":
    main()
