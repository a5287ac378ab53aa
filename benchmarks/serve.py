"""How fast the emulator seeds and serves: the floor every read benchmark stands on.

Seeds N Account records (about 30 columns of every type), then downloads all of them as
Bulk API 2.0 CSV pages and as REST query pages, plain and gzip, over loopback, and prints the
time and MB/s of each. Not a test: run it by hand (build with ``maturin develop --release``).

    python benchmarks/serve.py --rows 1000000
"""

from __future__ import annotations

import argparse
import http.client
import json
import time
import zlib
from urllib.parse import quote, urlparse

from sfarrow.testing import Org

FIELDS = (
    "Id, Name, Ext_Id__c, Type, ParentId, BillingStreet, BillingCity, BillingState, BillingPostalCode, "
    "BillingCountry, BillingLatitude, BillingLongitude, Phone, Website, Industry, AnnualRevenue, "
    "NumberOfEmployees, Description, Rating, CustomerPriority__c, Regions__c, Segment__c, Discount__c, "
    "Health_Score__c, Is_Partner__c, Total_Units__c, SLA_Expiration__c, Last_Contacted_At__c, "
    "Preferred_Call_Time__c, Owner.Name, CreatedDate, SystemModstamp"
)


class Client:
    """A keep-alive HTTP client that only counts bytes: no parsing, so the server is measured."""

    def __init__(self, org: Org, gzip: bool) -> None:
        u = urlparse(org.url)
        self.conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port)
        self.headers = {"Authorization": f"Bearer {org.access_token}", "Content-Type": "application/json"}
        if gzip:
            self.headers["Accept-Encoding"] = "gzip"
        self.api = f"/services/data/v{org.api_version}"

    def call(self, method: str, path: str, body: str | None = None) -> tuple[int, dict[str, str], bytes]:
        """Returns status, headers and the body as it came over the wire (maybe gzip)."""
        self.conn.request(method, path, body=body, headers=self.headers)
        r = self.conn.getresponse()
        data = r.read()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, data

    def json(self, method: str, path: str, body: str | None = None) -> tuple[int, dict[str, str], bytes, object]:
        status, headers, wire = self.call(method, path, body)
        plain = zlib.decompress(wire, 31) if headers.get("content-encoding") == "gzip" else wire
        return status, headers, wire, json.loads(plain)


def bulk(org: Org, gzip: bool) -> tuple[int, int]:
    c = Client(org, gzip)
    status, _, _, info = c.json("POST", f"{c.api}/jobs/query", json.dumps({"operation": "query", "query": f"SELECT {FIELDS} FROM Account"}))
    assert status == 200, info
    job = info["id"]  # type: ignore[index]
    while c.json("GET", f"{c.api}/jobs/query/{job}")[3]["state"] != "JobComplete":  # type: ignore[index]
        time.sleep(0.05)
    total_bytes = rows = 0
    locator = ""
    while True:
        q = "?maxRecords=50000" + (f"&locator={locator}" if locator else "")
        status, headers, body = c.call("GET", f"{c.api}/jobs/query/{job}/results{q}")
        assert status == 200, body[:200]
        total_bytes += len(body)
        rows += int(headers["sforce-numberofrecords"])
        locator = headers["sforce-locator"]
        if locator == "null":
            return rows, total_bytes


def rest(org: Org, gzip: bool) -> tuple[int, int]:
    c = Client(org, gzip)
    c.headers["Sforce-Query-Options"] = "batchSize=2000"
    path = f"{c.api}/query?q={quote(f'SELECT {FIELDS} FROM Account')}"
    total_bytes = rows = 0
    while path:
        status, headers, wire, page = c.json("GET", path)
        assert status == 200, page
        total_bytes += len(wire)
        rows += len(page["records"])  # type: ignore[index]
        path = page.get("nextRecordsUrl", "")  # type: ignore[union-attr]
    return rows, total_bytes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rows", type=int, default=100_000)
    args = p.parse_args()
    with Org() as org:
        t = time.perf_counter()
        org.seed("Account", args.rows)
        print(f"seed {args.rows:,} Account: {time.perf_counter() - t:.2f} s")
        for name, fn in (("bulk csv", bulk), ("rest json", rest)):
            for gz in (False, True):
                t = time.perf_counter()
                rows, size = fn(org, gz)
                dt = time.perf_counter() - t
                assert rows == args.rows, (rows, args.rows)
                label = f"{name}{' gzip' if gz else ''}"
                print(f"{label:15} {rows:,} rows  {size / 1e6:8.1f} MB on the wire  {dt:6.2f} s  {size / 1e6 / dt:7.1f} MB/s  {rows / dt:10,.0f} rows/s")


if __name__ == "__main__":
    main()
