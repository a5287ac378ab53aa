"""Memory promises, each measured in a child process (its peak RSS is then its own): the
emulator serves from this one, so its store does not count against the client.

- a streamed read (``query_batches_async``) of 2,000,000 rows stays under 400 MB;
- ``write_async`` of 1,000,000 streamed rows uses no more than 1.2x what ``write`` uses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from collections.abc import Iterator

import pytest

from sfarrow.testing import Org

READ_ROWS = 2_000_000
WRITE_ROWS = 1_000_000


def _client(code: str, org: Org) -> dict[str, float]:
    """Runs ``code`` (which sets ``rows``) in a fresh interpreter; its row count and peak RSS."""
    script = (
        textwrap.dedent(
            """
        import asyncio, json, sys
        import pyarrow as pa
        import sfarrow
        url, token = sys.argv[1], sys.argv[2]
        conn = sfarrow.Connection(url, token)
        """
        )
        + textwrap.dedent(code)
        + textwrap.dedent(
            """
        # VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forking parent (this test
        # process, with the emulator's records), while VmHWM belongs to the new image alone.
        with open("/proc/self/status") as f:
            rss = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024
        print(json.dumps({"rows": rows, "rss_mb": rss}))
        """
        )
    )
    out = subprocess.run([sys.executable, "-c", script, org.url, org.access_token], capture_output=True, text=True, timeout=1200)
    assert out.returncode == 0, out.stderr[-3000:]
    report: dict[str, float] = json.loads(out.stdout.strip().splitlines()[-1])
    return report


@pytest.fixture(scope="module")
def big_org() -> Iterator[Org]:
    with Org(seed={"Account": READ_ROWS}, https=False) as org:
        yield org


def test_query_batches_async_streams_two_million_rows_under_400_mb(big_org):
    got = _client(
        """
        async def main():
            stream = conn.query_batches_async("SELECT Id, Name, AnnualRevenue, CreatedDate FROM Account", api="bulk")
            n = 0
            async for batch in stream:
                assert isinstance(batch, pa.RecordBatch)
                n += batch.num_rows
            return n
        rows = asyncio.run(main())
        """,
        big_org,
    )
    print(f"query_batches_async, {READ_ROWS:,} rows: peak RSS {got['rss_mb']:.0f} MB")
    assert got["rows"] == READ_ROWS
    assert got["rss_mb"] < 400, f"peak RSS {got['rss_mb']:.0f} MB"


WRITE = """
SCHEMA = pa.schema([("Name", pa.string()), ("NumberOfEmployees", pa.int32()), ("Industry", pa.string())])

def batches():
    for start in range(0, {rows}, 20_000):
        n = min(20_000, {rows} - start)
        yield pa.record_batch(
            [pa.array([f"mem-{{i}}" for i in range(start, start + n)]), pa.array(range(n), pa.int32()), pa.array(["Energy"] * n)],
            schema=SCHEMA,
        )

def data():
    return pa.RecordBatchReader.from_batches(SCHEMA, batches())
"""


def test_write_async_streams_like_write():
    with Org(https=False) as org:
        setup = WRITE.format(rows=WRITE_ROWS)
        sync = _client(
            setup
            + """
result = conn.write("insert", "Account", data(), api="bulk")
rows = sum(result["success"].to_pylist())
""",
            org,
        )
        asynchronous = _client(
            setup
            + """
async def main():
    result = await conn.write_async("insert", "Account", data(), api="bulk")
    return sum(result["success"].to_pylist())
rows = asyncio.run(main())
""",
            org,
        )
    print(f"{WRITE_ROWS:,} rows: write {sync['rss_mb']:.0f} MB, write_async {asynchronous['rss_mb']:.0f} MB peak RSS")
    assert sync["rows"] == asynchronous["rows"] == WRITE_ROWS
    assert asynchronous["rss_mb"] <= 1.2 * sync["rss_mb"], f"write {sync['rss_mb']:.0f} MB, write_async {asynchronous['rss_mb']:.0f} MB"
