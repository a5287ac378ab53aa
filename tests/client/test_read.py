"""Reading SOQL into Arrow: one schema from describe, equal tables from REST and Bulk API 2.0,
streaming, the automatic API choice, and recovery from failures mid-read."""

from __future__ import annotations

import asyncio
import datetime as dt
import decimal
import random

import pyarrow as pa
import pytest

import sfarrow
from sfarrow.testing import Org

UTC = dt.timezone.utc

ALL_TYPES = [
    {"name": "Text__c", "type": "string", "length": 255},
    {"name": "Area__c", "type": "textarea", "length": 32000},
    {"name": "Pick__c", "type": "picklist", "picklistValues": ["A", "B", "Ünï"]},
    {"name": "Multi__c", "type": "multipicklist", "picklistValues": ["x", "y", "z"]},
    {"name": "Mail__c", "type": "email"},
    {"name": "Phone__c", "type": "phone"},
    {"name": "Site__c", "type": "url"},
    {"name": "Flag__c", "type": "boolean"},
    {"name": "Count__c", "type": "int"},
    {"name": "Big__c", "type": "long"},
    {"name": "Ratio__c", "type": "double", "precision": 18, "scale": 6},
    {"name": "Pct__c", "type": "percent", "precision": 5, "scale": 2},
    {"name": "Money__c", "type": "currency", "precision": 18, "scale": 2},
    {"name": "Day__c", "type": "date"},
    {"name": "At__c", "type": "datetime"},
    {"name": "Clock__c", "type": "time"},
    {"name": "Key__c", "type": "string", "length": 40, "externalId": True, "unique": True},
]

ARROW = pa.schema(
    [
        ("Name", pa.string()),
        ("Text__c", pa.string()),
        ("Area__c", pa.string()),
        ("Pick__c", pa.string()),
        ("Multi__c", pa.string()),
        ("Mail__c", pa.string()),
        ("Phone__c", pa.string()),
        ("Site__c", pa.string()),
        ("Flag__c", pa.bool_()),
        ("Count__c", pa.int32()),
        ("Big__c", pa.int64()),
        ("Ratio__c", pa.float64()),
        ("Pct__c", pa.float64()),
        ("Money__c", pa.decimal128(18, 2)),
        ("Day__c", pa.date32()),
        ("At__c", pa.timestamp("ms", tz="+00:00")),
        ("Clock__c", pa.time32("ms")),
        ("Key__c", pa.string()),
    ]
)

NASTY = ["", "plain", "comma, here", 'quote " here', "new\nline", "crlf\r\nline", "ünïcödé ✓ 日本", "  spaced  ", "#N/A-ish", "tab\there", "back\\slash"]


def generate(rng: random.Random, n: int) -> list[dict]:
    rows = []
    for i in range(n):
        maybe = lambda v: None if rng.random() < 0.15 else v  # noqa: E731
        text = rng.choice(NASTY)
        rows.append(
            {
                "Name": f"R{i} {rng.choice(NASTY)}".strip() or f"R{i}",
                "Text__c": maybe(text or None),
                "Area__c": maybe("\n".join(rng.choice(NASTY) for _ in range(3)) or None),
                "Pick__c": maybe(rng.choice(["A", "B", "Ünï"])),
                "Multi__c": maybe(rng.choice(["x", "x;y", "y;z"])),
                "Mail__c": maybe(f"p{i}@example.com"),
                "Phone__c": maybe("+1 (415) 555-0100"),
                "Site__c": maybe("https://example.com/a?b=c&d=e"),
                "Flag__c": rng.random() < 0.5,
                "Count__c": maybe(rng.choice([0, 1, -1, 2**31 - 1, -(2**31), rng.randint(-1000, 1000)])),
                "Big__c": maybe(rng.choice([0, 2**53 + 1, -(2**62), 9_007_199_254_740_993, rng.randint(-(10**12), 10**12)])),
                "Ratio__c": maybe(rng.choice([0.0, -0.5, 1e-3, 123456.789012, 1e11, 0.1 + 0.2])),
                "Pct__c": maybe(rng.choice([0.0, 12.5, 100.0, 999.99])),
                "Money__c": maybe(decimal.Decimal(rng.choice(["0.00", "-1.05", "12.50", "9999999999999.99", "1234567.89"]))),
                "Day__c": maybe(rng.choice([dt.date(1700, 1, 1), dt.date(2000, 2, 29), dt.date(4000, 12, 31), dt.date(1970, 1, 1)])),
                "At__c": maybe(
                    rng.choice(
                        [
                            dt.datetime(1970, 1, 1, tzinfo=UTC),
                            dt.datetime(1899, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
                            dt.datetime(2038, 1, 19, 3, 14, 8, 1000, tzinfo=UTC),
                            dt.datetime(2024, 2, 29, 12, 0, tzinfo=UTC),
                        ]
                    )
                ),
                "Clock__c": maybe(rng.choice([dt.time(0, 0), dt.time(23, 59, 59, 999000), dt.time(12, 30, 0, 5000)])),
                "Key__c": f"K{i:05d}",
            }
        )
    return rows


def expected_table(rows: list[dict]) -> pa.Table:
    def blank_to_none(v):
        return None if v == "" else v

    cleaned = [{k: blank_to_none(v) for k, v in r.items()} for r in rows]
    return pa.Table.from_pylist(cleaned, schema=ARROW)


@pytest.fixture(scope="module")
def typed_org():
    with Org() as org:
        org.define_object("Typed__c", ALL_TYPES)
        yield org


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rest_equals_bulk_equals_expected(typed_org, seed):
    org = typed_org
    rng = random.Random(seed)
    rows = generate(rng, 150)
    for r in rows:
        r["Key__c"] = f"S{seed}-{r['Key__c']}"
    org.load("Typed__c", pa.Table.from_pylist(rows, schema=ARROW))
    conn = sfarrow.Connection(org.url, org.access_token)
    fields = ", ".join(ARROW.names)
    soql = f"SELECT {fields} FROM Typed__c WHERE Key__c LIKE 'S{seed}-%' ORDER BY Key__c"
    rest = conn.query(soql, api="rest")
    bulk = conn.query(soql, api="bulk")
    expected = expected_table(rows)
    assert rest.schema.metadata[b"sfarrow.api"] == b"rest"
    assert bulk.schema.metadata[b"sfarrow.api"] == b"bulk"
    assert rest.schema.remove_metadata() == ARROW
    assert bulk.schema.remove_metadata() == ARROW
    bulk_sorted = bulk.sort_by("Key__c")  # Bulk 2.0 does not promise ORDER BY
    for name in ARROW.names:
        assert rest[name].combine_chunks() == expected[name].combine_chunks(), name
        assert bulk_sorted[name].combine_chunks() == expected[name].combine_chunks(), name


def test_one_column_of_nulls_keeps_every_row(typed_org):
    # A one-column Bulk page writes a null as an empty line: it is a record, not a gap.
    rows = [{"Name": f"N{i}", "Key__c": f"N-{i:03d}", "Text__c": None if i % 3 else f"t{i}"} for i in range(40)]
    typed_org.load("Typed__c", pa.Table.from_pylist(rows, schema=ARROW))
    conn = sfarrow.Connection(typed_org.url, typed_org.access_token)
    soql = "SELECT Text__c FROM Typed__c WHERE Key__c LIKE 'N-%'"
    for api in ("rest", "bulk"):
        text = conn.query(soql, api=api)["Text__c"]
        assert (len(text), text.null_count) == (40, 26), api
        assert sorted(v for v in text.to_pylist() if v) == sorted(f"t{i}" for i in range(0, 40, 3))


@pytest.fixture(scope="module")
def org():
    with Org(seed={"Account": 300, "Contact": 600}) as o:
        yield o


@pytest.fixture(scope="module")
def conn(org):
    return sfarrow.Connection(org.url, org.access_token)


COMPOUND = "SELECT Id, Name, Owner.Name, Owner.Email, BillingAddress, HQ_Location__c, AnnualRevenue, CreatedDate FROM Account"


def test_compound_and_parent_fields_agree_across_apis(conn):
    rest = conn.query(COMPOUND, api="rest").sort_by("Id")
    bulk = conn.query(COMPOUND, api="bulk").sort_by("Id")
    assert rest.num_rows == bulk.num_rows == 300
    assert rest.schema.remove_metadata() == bulk.schema.remove_metadata()
    assert rest.column_names == ["Id", "Name", "Owner.Name", "Owner.Email", "BillingAddress", "HQ_Location__c", "AnnualRevenue", "CreatedDate"]
    assert pa.types.is_struct(rest.schema.field("BillingAddress").type)
    assert rest.schema.field("BillingAddress").type.field("city").type == pa.string()
    assert rest.schema.field("AnnualRevenue").type == pa.decimal128(18, 0)
    assert rest.equals(bulk)
    assert rest["Owner.Name"][0].as_py() == "Emulator Admin"


def test_children_as_list_of_structs_and_bulk_refuses_them(conn):
    soql = "SELECT Name, (SELECT LastName, Email FROM Contacts ORDER BY LastName) FROM Account ORDER BY Name LIMIT 50"
    t = conn.query(soql)
    assert t.schema.metadata[b"sfarrow.api"] == b"rest"
    assert b"subquer" in t.schema.metadata[b"sfarrow.reason"]
    contacts = t.schema.field("Contacts").type
    assert pa.types.is_list(contacts) and contacts.value_type.field("Email").type == pa.string()
    assert sum(len(c or []) for c in t["Contacts"].to_pylist()) > 0
    with pytest.raises(sfarrow.ConfigurationError, match="subquer"):
        conn.query(soql, api="bulk")


def test_count_and_aggregates_run_on_rest(conn):
    t = conn.query("SELECT COUNT() FROM Contact")
    assert t.to_pylist() == [{"count": 600}]
    agg = conn.query("SELECT Industry, COUNT(Id) n, MAX(AnnualRevenue) top FROM Account GROUP BY Industry ORDER BY Industry")
    assert agg.column_names == ["Industry", "n", "top"]
    assert agg.schema.field("n").type == pa.int64()
    assert sum(agg["n"].to_pylist()) == 300


def test_auto_chooses_by_count(conn):
    small = conn.query("SELECT Id FROM Account", bulk_threshold=301)
    big = conn.query("SELECT Id FROM Account", bulk_threshold=300)
    limited = conn.query("SELECT Id FROM Account LIMIT 10", bulk_threshold=300)
    assert small.schema.metadata[b"sfarrow.api"] == b"rest"
    assert big.schema.metadata[b"sfarrow.api"] == b"bulk"
    assert limited.schema.metadata[b"sfarrow.api"] == b"rest" and limited.num_rows == 10
    assert b"300 records >= bulk threshold 300" == big.schema.metadata[b"sfarrow.reason"]
    assert sorted(small["Id"].to_pylist()) == sorted(big["Id"].to_pylist())


def test_query_batches_streams_pages(conn):
    reader = conn.query_batches("SELECT Id, Name FROM Account", api="bulk", bulk_page_size=40)
    sizes = [b.num_rows for b in reader]
    assert len(sizes) == 8 and sum(sizes) == 300
    rest = conn.query_batches("SELECT Id FROM Contact", api="rest")
    assert isinstance(rest, pa.RecordBatchReader)
    assert rest.read_all().num_rows == 600


def test_include_deleted_on_both_apis(org, conn):
    victim = conn.query("SELECT Id FROM Contact LIMIT 1")["Id"][0].as_py()
    conn.request("DELETE", f"sobjects/Contact/{victim}")
    for api in ("rest", "bulk"):
        live = conn.query("SELECT Id, IsDeleted FROM Contact", api=api)
        everything = conn.query("SELECT Id, IsDeleted FROM Contact", api=api, include_deleted=True)
        assert victim not in live["Id"].to_pylist()
        assert victim in everything["Id"].to_pylist()
        assert everything.num_rows == live.num_rows + 1
        assert everything.filter(pa.compute.equal(everything["Id"], victim))["IsDeleted"].to_pylist() == [True]


def test_errors_are_typed(conn):
    with pytest.raises(sfarrow.ApiError) as e:
        conn.query("SELECT Nope__c FROM Account")
    assert e.value.error_code == "INVALID_FIELD"
    with pytest.raises(sfarrow.ApiError) as e:
        conn.query("SELECT Id FROM Nope__c")
    assert e.value.error_code == "INVALID_TYPE"
    with pytest.raises(sfarrow.ApiError) as e:
        conn.query("SELECT FROM Account")
    assert e.value.error_code == "MALFORMED_QUERY"
    with pytest.raises(sfarrow.ConfigurationError, match="api must be"):
        conn.query("SELECT Id FROM Account", api="soap")


@pytest.mark.parametrize("version", ["57.0", "58.0"])
def test_bulk_pages_are_downloaded_once_on_every_version(org, version):
    # Before v58.0 there is no resultPages listing: each page's Sforce-Locator names the next.
    conn = sfarrow.Connection(org.url, org.access_token, api_version=version)
    org.clear_requests()
    table = conn.query("SELECT Id FROM Contact", api="bulk", bulk_page_size=100)
    n = org.count("Contact")
    assert n > 500 and table.num_rows == n and len(set(table["Id"].to_pylist())) == n
    pages = [r for r in org.requests() if r["path"].endswith("/results")]
    assert len(pages) == -(-n // 100), [r["query"] for r in pages]
    assert len({r["query"] for r in pages}) == len(pages), "no page was fetched twice"
    listed = [r for r in org.requests() if r["path"].endswith("/resultPages")]
    assert len(listed) == (1 if version == "58.0" else 0)


@pytest.fixture(scope="module")
def paged_org():
    with Org(seed={"Contact": 4500}) as o:
        yield o


@pytest.mark.parametrize("kind", ["503", "drop", "truncate"])
@pytest.mark.parametrize("api", ["rest", "bulk"])
def test_transient_failures_mid_read_lose_and_duplicate_nothing(paged_org, kind, api):
    org = paged_org
    conn = sfarrow.Connection(org.url, org.access_token)
    soql = "SELECT Id, Name FROM Contact"
    clean = conn.query(soql, api=api, bulk_page_size=1000)
    path = "/query" if api == "rest" else "/results"
    pages = 3 if api == "rest" else 5
    org.clear_requests()
    org.inject_fault(kind, nth=2, path=path)
    org.inject_fault(kind, nth=3, path=path)
    try:
        again = conn.query(soql, api=api, bulk_page_size=1000)
    finally:
        org.clear_faults()
    served = [r for r in org.requests() if path in r["path"]]
    assert len(served) == pages + 2, "both injected failures were retried"
    assert again.num_rows == clean.num_rows == 4500
    assert sorted(again["Id"].to_pylist()) == sorted(clean["Id"].to_pylist())


def test_pandas_polars_and_async(conn):
    import polars as pl

    t = conn.query("SELECT Id, Name, AnnualRevenue, CreatedDate FROM Account LIMIT 20")
    df = t.to_pandas()
    assert len(df) == 20 and str(df["CreatedDate"].dtype).startswith("datetime64[ms, ")
    p = pl.from_arrow(t)
    assert p.shape == (20, 4)

    async def main():
        return await conn.query_async("SELECT Id FROM Account LIMIT 5"), await conn.schema_async("Account", ["Id"])

    rows, schema = asyncio.run(main())
    assert rows.num_rows == 5 and schema.names == ["Id"]


def test_schema_from_describe(conn):
    s = conn.schema("Account")
    assert s.field("NumberOfEmployees").type == pa.int32()
    assert s.field("Preferred_Call_Time__c").type == pa.time32("ms")
    assert s.field("Last_Contacted_At__c").type == pa.timestamp("ms", tz="+00:00")
    assert pa.types.is_struct(s.field("ShippingAddress").type)
    with pytest.raises(sfarrow.ApiError, match="Nope"):
        conn.schema("Account", ["Nope"])


def test_wide_objects_split_by_field_on_rest_and_join_by_id():
    """A select list whose GET URL would pass 16,384 bytes runs as several REST queries, each
    with Id, joined back by Id: the table equals Bulk's, which POSTs the SOQL."""
    names = [f"Quite_A_Long_Custom_Field_Name_{i:03}__c" for i in range(500)]
    with Org() as org:
        org.define_object("Wide__c", [{"name": n, "type": "double", "precision": 18, "scale": 2} for n in names])
        rows = [{"Name": f"w{r:04}", **{n: float(r * 1000 + i) for i, n in enumerate(names)}} for r in range(2500)]
        org.load("Wide__c", rows)
        conn = sfarrow.Connection(org.url, org.access_token)
        soql = f"SELECT Id, Name, {', '.join(names)} FROM Wide__c WHERE Name != 'w0007'"
        org.clear_requests()
        rest = conn.query(soql, api="rest")
        queries = [r for r in org.requests() if r["path"].endswith("/query")]
        assert len(queries) == 2, "about 21 KB of SOQL runs as two queries"
        assert all(len(r["path"]) + len(r["query"]) < 16_384 for r in queries)
        assert all(r["status"] == 200 for r in org.requests())
        bulk = conn.query(soql, api="bulk")
        assert rest.num_rows == 2499
        assert rest.column_names == ["Id", "Name", *names]
        assert rest.sort_by("Id").equals(bulk.sort_by("Id"))
        row = rest.filter(pa.compute.equal(rest["Name"], "w2100")).to_pylist()[0]
        assert row[names[0]] == 2100000.0 and row[names[-1]] == 2100499.0

        with pytest.raises(sfarrow.ConfigurationError, match="aggregate"):
            conn.query(f"SELECT {', '.join(f'MAX({n})' for n in names)} FROM Wide__c", api="rest")


def test_ctrl_c_interrupts_a_blocking_query_and_aborts_the_bulk_job():
    """SIGINT during a blocking query() raises KeyboardInterrupt within moments, and the Bulk
    job still running on the server is aborted, then deleted (nothing left behind)."""
    import signal
    import subprocess
    import sys
    import textwrap
    import time

    with Org(seed={"Account": 50}, job_latency=60.0) as org:
        child = textwrap.dedent(
            f"""
            import sys, time, sfarrow
            conn = sfarrow.Connection({org.url!r}, {org.access_token!r})
            print("ready", flush=True)
            started = time.monotonic()
            try:
                conn.query("SELECT Id FROM Account", api="bulk")
            except KeyboardInterrupt:
                print(f"interrupted {{time.monotonic() - started:.2f}}", flush=True)
                time.sleep(1.0)  # the abort request goes out from the runtime's threads
                sys.exit(0)
            sys.exit(3)
            """
        )
        proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        deadline = time.monotonic() + 20
        while not any(r["method"] == "POST" and r["path"].endswith("/jobs/query") for r in org.requests()):
            assert time.monotonic() < deadline, "the job was never created"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
        assert proc.returncode == 0, out
        assert float(out.split()[1]) < 10, out
        patches = [r for r in org.requests() if r["method"] == "PATCH" and "/jobs/query/" in r["path"]]
        assert len(patches) == 1 and patches[0]["status"] == 200
        job = patches[0]["path"].rsplit("/", 1)[1]
        deletes = [r for r in org.requests() if r["method"] == "DELETE" and r["path"].endswith(f"/jobs/query/{job}")]
        assert [r["status"] for r in deletes] == [204]
        conn = sfarrow.Connection(org.url, org.access_token)
        with pytest.raises(sfarrow.ApiError) as e:
            conn.request("GET", f"jobs/query/{job}")
        assert e.value.status == 404
