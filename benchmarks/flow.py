"""Flow benchmark (not a test): Salesforce to Parquet through a Flow, time and peak RSS of the
client process, for a seeded emulator with N Account rows (~30 columns of every type).

    python benchmarks/flow.py --rows 5000000
"""

from __future__ import annotations

import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(__file__))
from _harness import emulator, measure, parser, run_in_process
from read import FIELDS


def run_case(url: str, token: str, ca: str) -> int:
    import sfarrow

    conn = sfarrow.Connection(url, token, ca_file=ca)
    with tempfile.TemporaryDirectory() as out:
        source = sfarrow.SalesforceSource(conn, "Account", fields=[f.strip() for f in FIELDS.split(",")], incremental="SystemModstamp")
        flow = sfarrow.Flow(source, sfarrow.ParquetDestination(out), state=os.path.join(out, "state.json"), progress=False)
        run = flow.run()
        print(f"api {run.api}, {len(run.paths)} files, {run.bytes / 1e6:.0f} MB of Parquet", file=sys.stderr)
        return run.records_written


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--rows", type=int, nargs="+", default=[100_000])
    a = p.parse_args()
    if a.case:
        import pyarrow  # noqa: F401

        import sfarrow  # noqa: F401

        measure(lambda: run_case(a.url, a.token, a.ca))
        return
    for n in a.rows:
        with emulator({"Account": n}) as org:
            r = run_in_process(__file__, "flow-parquet", org, [])
            assert r["rows"] == n, r
            print(f"{n:>9,} rows  salesforce -> parquet flow  {r['seconds']:8.2f} s  peak RSS {r['rss_mb']:8.0f} MB", flush=True)


if __name__ == "__main__":
    main()
