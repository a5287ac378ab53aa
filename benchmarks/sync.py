"""Sync benchmark: change events applied to PostgreSQL and Delta Lake (not a test).

An org runs in its own process; PostgreSQL in a cluster of its own (tests/pg_server.py). Each
case runs in a fresh process against a fresh table:

  apply rate, events/s from the first applied batch to the last, of N change events already
  on the bus (N/2 Account inserts, then an update of each), replayed from the earliest:
    apply-postgres      ChangeEventSource into PostgreSQL (micro-batches of --batch-events)
    apply-delta         the same into a Delta table
    apply-handwritten   the loop a user writes by hand: pysfpubsub's subscribe, each event
                        decoded with one reused Avro reader, then per batch a psycopg
                        ``executemany`` upsert of the event's non-null fields

  write-to-visible latency, p50 / p99 / max: a served flow, a writer making single-record
  REST inserts at --rate a second, and a poller that notes when each row is readable:
    latency-postgres    polling the table every 5 ms
    latency-delta       polling the table every 20 ms (a Delta read opens the log)

  delta-commits         a served flow committing each change as it comes (batch_events=1)
                        while single-record inserts go on until the table has --commits
                        versions, with the destination's default maintenance; then the time
                        to read the whole table (median of 3)

    python benchmarks/sync.py
    python benchmarks/sync.py --events 100000 --repeat 3
    python benchmarks/sync.py --cases latency-postgres latency-delta --rate 50 --writes 500

Build with ``maturin develop --release`` first. ``BENCH_PROFILE=out.prof`` writes a cProfile of
the apply cases (the calling thread; the decoding runs on the subscription's own).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests"))
from _harness import measure, org_process, parser, run_in_process

APPLY = ["apply-postgres", "apply-delta", "apply-handwritten"]
LATENCY = ["latency-postgres", "latency-delta"]
CASES = [*APPLY, *LATENCY, "delta-commits"]
FIELDS = ["Id", "Name", "NumberOfEmployees", "Industry", "LastModifiedDate", "SystemModstamp"]


def connection(a):
    import sfarrow

    return sfarrow.Connection(a.url, a.token, pubsub_url=a.pubsub, ca_file=a.ca)


def fresh_database(a, name: str) -> str:
    import psycopg

    with psycopg.connect(a.pg.replace("postgresql://", "postgresql://", 1), autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.execute(f"CREATE DATABASE {name}")
    return a.pg.rsplit("/", 1)[0] + "/" + name


def destination(a, kind: str, **options):
    import sfarrow

    if kind == "delta":
        return sfarrow.DeltaDestination(tempfile.mkdtemp(prefix="sfarrow-bench-") + "/account", mode="merge", **options)
    return sfarrow.DatabaseDestination(fresh_database(a, "bench"), "account", mode="merge")


def flow_of(a, dest, **options):
    import sfarrow

    source = sfarrow.ChangeEventSource(connection(a), "Account", fields=FIELDS, lag=0, **options)
    return sfarrow.Flow(source, dest, progress=False)


def replaying(flow, stop):
    """The flow's event loop, resuming from the sweep just committed but subscribed from the
    earliest event (every event on the bus is replayed through the merge)."""
    from sfarrow.sync.replica import EventSync

    sync = EventSync(flow, stop)
    sync._prepare()
    flow.destination.hold()  # as serve() does: one connection (or open table) for every batch
    record = flow._saved_state() or {}
    sync.watermark, sync.replay_id = record.get("watermark"), record.get("replay_id")
    return sync


def run_apply(a, kind: str) -> None:
    """The table starts from a sweep (the records as they are now), then every event on the bus
    is replayed through the merge: the same work as catching up after an outage."""
    extra: dict = {}
    flow = flow_of(a, destination(a, kind), batch_events=a.batch_events, batch_age=1.0)
    flow.run()
    stop = threading.Event()
    sync = replaying(flow, stop)

    def work() -> int:
        sync.subscription.start("earliest")
        applied = {"first": 0.0, "last": 0.0, "events": 0, "first_events": 0}
        original = sync.apply

        def timed(folded):  # type: ignore[no-untyped-def]
            rows = original(folded)
            now = time.perf_counter()
            if not applied["events"]:
                applied["first"], applied["first_events"] = now, folded.events
            applied["events"] += folded.events
            applied["last"] = now
            if applied["events"] >= a.n:
                stop.set()
            return rows

        sync.apply = timed  # type: ignore[method-assign]
        sync._loop()
        sync.close()
        flow.destination.release()
        extra.update(after_first=applied["events"] - applied["first_events"], first_to_last=applied["last"] - applied["first"], batches=sync.batches)
        return int(applied["events"])

    measure(work, extra)


def run_handwritten(a) -> None:
    """pysfpubsub as its README uses it, the schema parsed once and one Avro reader reused, and
    a psycopg upsert per batch: what a user without sfarrow writes."""
    import avro.io
    import avro.schema
    import grpc
    import psycopg
    import pysfpubsub.pubsub as ps

    with open(a.ca, "rb") as f:
        ps.secure_channel_credentials = grpc.ssl_channel_credentials(f.read())
    host, port = a.pubsub.rsplit(":", 1)
    extra: dict = {}
    uri = fresh_database(a, "handwritten")
    with psycopg.connect(uri) as db:
        db.execute('CREATE TABLE account ("Id" TEXT PRIMARY KEY, "Name" TEXT, "NumberOfEmployees" INTEGER, "Industry" TEXT, "LastModifiedDate" TIMESTAMPTZ)')
    upsert = (
        'INSERT INTO account ("Id", "Name", "NumberOfEmployees", "Industry", "LastModifiedDate") VALUES (%s, %s, %s, %s, to_timestamp(%s / 1000.0)) '
        'ON CONFLICT ("Id") DO UPDATE SET "Name" = COALESCE(EXCLUDED."Name", account."Name"), '
        '"NumberOfEmployees" = COALESCE(EXCLUDED."NumberOfEmployees", account."NumberOfEmployees"), '
        '"Industry" = COALESCE(EXCLUDED."Industry", account."Industry"), "LastModifiedDate" = EXCLUDED."LastModifiedDate"'
    )

    class Done(Exception):
        pass

    def work() -> int:
        db = psycopg.connect(uri)
        client = ps.Client(url=a.url, username=a.username, password="x", grpc_host=host, grpc_port=int(port))
        client.auth()
        readers: dict[str, avro.io.DatumReader] = {}
        buf = io.BytesIO()
        decoder = avro.io.BinaryDecoder(buf)
        state = {"events": 0, "first_events": 0, "first": 0.0, "last": 0.0}

        def callback(event, c) -> None:
            rows = []
            for e in event.events:
                reader = readers.get(e.event.schema_id)
                if reader is None:
                    reader = readers[e.event.schema_id] = avro.io.DatumReader(avro.schema.parse(c.get_schema_json(e.event.schema_id)))
                buf.seek(0)
                buf.write(e.event.payload)
                buf.truncate()
                buf.seek(0)
                record = reader.read(decoder)
                header = record["ChangeEventHeader"]
                name = record.get("Name")
                for rid in header["recordIds"]:
                    rows.append(
                        (rid, name, record.get("NumberOfEmployees"), record.get("Industry"), record.get("LastModifiedDate") or header["commitTimestamp"])
                    )
            if rows:
                with db.cursor() as cur:
                    cur.executemany(upsert, rows)
                db.commit()
                state["last"] = time.perf_counter()
                if not state["events"]:
                    state["first"], state["first_events"] = state["last"], len(event.events)
                state["events"] += len(event.events)
                if state["events"] >= a.n:
                    raise Done
            if event.pending_num_requested == 0:
                c.release_subscription_semaphore()

        try:
            client.subscribe("/data/AccountChangeEvent", "EARLIEST", b"", 100, callback)
        except Done:
            pass
        client.release_subscription_semaphore()
        extra.update(after_first=state["events"] - state["first_events"], first_to_last=state["last"] - state["first"])
        return int(state["events"])

    measure(work, extra)


def run_latency(a, kind: str) -> None:
    """Writes at ``--rate`` a second, each noted before it is sent; the poller notes when its
    row is first readable in the table. Warm-up writes first, until one is visible."""
    import pyarrow.compute as pc

    import sfarrow
    from sfarrow import destinations as d
    from sfarrow.sync.serve import serve

    dest = destination(a, kind)
    flow = flow_of(a, dest, batch_events=1000, batch_age=a.batch_age)
    stop = threading.Event()
    server = threading.Thread(target=serve, args=(flow, None, stop, False), daemon=True)
    server.start()
    conn = connection(a)
    sent: dict[str, float] = {}
    seen: dict[str, float] = {}
    extra: dict = {}
    tag = f"lat {os.getpid()} "  # this case's rows only (the org keeps earlier cases')

    def names_in_table() -> list[str]:
        if kind == "delta":
            import deltalake

            try:
                table = deltalake.DeltaTable(dest.uri).to_pyarrow_table(columns=["Name"])
            except Exception:
                return []
        else:
            out = d.ArrowDestination()
            try:
                sfarrow.Flow(sfarrow.DatabaseSource(dest.uri, 'SELECT "Name" FROM "account"'), out, progress=False).run()
            except Exception:
                return []
            table = out.table
        names = table.column("Name")
        return names.filter(pc.starts_with(names, tag)).to_pylist()

    def poll() -> None:
        every = 0.005 if kind == "postgres" else 0.02
        while not stop.is_set():
            now = time.perf_counter()
            for name in names_in_table():
                seen.setdefault(name, now)
            time.sleep(every)

    def work() -> int:
        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        for warm in range(50):
            name = f"{tag}warm {warm}"
            conn.insert("Account", [{"Name": name}], api="rest")
            deadline = time.perf_counter() + 2.0
            while name not in seen and time.perf_counter() < deadline:
                time.sleep(0.005)
            if name in seen:
                break
        else:
            raise RuntimeError("no warm-up write became visible")
        start = time.perf_counter()
        for i in range(a.n):
            time.sleep(max(0.0, start + i / a.rate - time.perf_counter()))
            name = f"{tag}{i}"
            t0 = time.perf_counter()
            conn.insert("Account", [{"Name": name}], api="rest")
            sent[name] = t0
        deadline = time.perf_counter() + 30
        while not sent.keys() <= seen.keys() and time.perf_counter() < deadline:
            time.sleep(0.01)
        stop.set()
        server.join(timeout=60)
        ms = sorted((seen[k] - t0) * 1000 for k, t0 in sent.items() if k in seen)
        extra.update(p50_ms=statistics.median(ms), p99_ms=ms[math.ceil(0.99 * len(ms)) - 1], max_ms=ms[-1], missed=len(sent) - len(ms))
        return len(ms)

    measure(work, extra)


def run_commits(a) -> None:
    """A served flow committing each change as it comes (``batch_events=1``; a stream batch of
    several events is still one commit) while a writer makes single-record inserts until the
    table has ``--commits`` versions; once every insert is in, the whole table is read (median
    of 3 reads)."""
    import deltalake

    from sfarrow.sync.serve import serve

    dest = destination(a, "delta")
    flow = flow_of(a, dest, batch_events=1, batch_age=0.001)
    stop = threading.Event()
    server = threading.Thread(target=serve, args=(flow, None, stop, False), daemon=True)
    server.start()
    conn = connection(a)
    tag = f"commit {os.getpid()} "
    t = time.perf_counter()
    written = 0

    def version() -> int:
        try:
            return int(deltalake.DeltaTable(dest.uri).version())
        except Exception:  # not created yet
            return -1

    # Paced a little above what single commits sustain here, so that events mostly come alone
    # (a stream batch of several is one commit) without a backlog that runs for minutes.
    pace, at = 1.0 / a.commit_rate, time.perf_counter()
    while written % 100 or version() < a.n:
        conn.insert("Account", [{"Name": f"{tag}{written}"}], api="rest")
        written += 1
        at += pace
        time.sleep(max(0.0, at - time.perf_counter()))
    deadline = time.perf_counter() + 600
    while time.perf_counter() < deadline:
        names = deltalake.DeltaTable(dest.uri).to_pyarrow_table(columns=["Name"]).column("Name")
        if sum(1 for n in names.to_pylist() if n and n.startswith(tag)) >= written:
            break
        time.sleep(0.5)
    stop.set()
    server.join(timeout=120)
    table = deltalake.DeltaTable(dest.uri)
    reads = []
    for _ in range(3):
        started = time.perf_counter()
        rows = deltalake.DeltaTable(dest.uri).to_pyarrow_table().num_rows
        reads.append(time.perf_counter() - started)
    extra: dict = {"commits": table.version(), "commit_seconds": time.perf_counter() - t, "versions": table.version(), "written": written}
    extra["read_seconds"] = statistics.median(reads)
    measure(lambda: int(rows), extra)


def serve_org(a) -> None:
    """The org in a process of its own: change events selected, N change events made (N/2
    inserts by Bulk, then an update of each), and what the cases need printed as one line."""
    import pyarrow as pa

    import sfarrow
    from sfarrow.testing import Org

    with Org(seed={"Account": 10}) as org:
        org.select_change_events(["Account"])
        org.set_api_limit(100_000_000)  # single-record writes by the ten thousand: no daily allowance here
        conn = sfarrow.Connection(org.url, org.access_token, pubsub_url=org.pubsub_url, ca_file=org.ca_file)
        half = max(1, a.events // 2)
        t, before = time.perf_counter(), org.event_count()
        ids = conn.insert(
            "Account", pa.table({"Name": [f"Company {i}" for i in range(half)], "NumberOfEmployees": pa.array(range(half), pa.int32())}), api="bulk"
        )["id"]
        # Each update sets values of its own: one transaction's updates that set the same values
        # would be merged into one event naming several records.
        conn.update("Account", pa.table({"Id": ids, "Industry": [f"I{i}" for i in range(half)]}), api="bulk")
        made = org.event_count() - before
        print(f"made {made:,} change events in {time.perf_counter() - t:.1f} s", flush=True)
        info = {
            "url": org.url,
            "token": org.access_token,
            "ca": org.ca_file,
            "pid": str(os.getpid()),
            "pubsub": org.pubsub_url,
            "username": org.username,
            "events": made,
        }
        print(json.dumps(info), flush=True)
        sys.stdin.read()


def org(a):
    """The org process (:func:`serve` in this script), by :func:`_harness.org_process`."""
    return org_process([sys.executable, __file__, "--case", "serve", "--events", str(a.events)])


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--events", type=int, default=100_000, help="change events on the bus for the apply cases")
    p.add_argument("--batch-events", type=int, default=5000, help="micro-batch size in the apply cases")
    p.add_argument("--batch-age", type=float, default=0.05, help="micro-batch age in the latency cases (seconds)")
    p.add_argument("--writes", type=int, default=500, help="timed writes in the latency cases")
    p.add_argument("--rate", type=float, default=50.0, help="writes a second in the latency cases")
    p.add_argument("--commits", type=int, default=10_000, help="commits in delta-commits")
    p.add_argument("--commit-rate", type=float, default=20.0, help="inserts a second in delta-commits")
    p.add_argument("--cases", nargs="+", default=CASES, choices=CASES)
    p.add_argument("--repeat", type=int, default=1, help="runs of each case; figures are medians")
    for hidden in ("--pubsub", "--username", "--pg"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case == "serve":
        return serve_org(a)
    if a.case:
        import pyarrow  # noqa: F401  (imports are not part of a case's time)

        import sfarrow  # noqa: F401

        if a.case in ("apply-postgres", "apply-delta"):
            if os.environ.get("BENCH_PROFILE"):
                import cProfile

                cProfile.runctx("run_apply(a, a.case.split('-')[1])", globals(), {"a": a}, os.environ["BENCH_PROFILE"])
            else:
                run_apply(a, a.case.split("-")[1])
        elif a.case == "apply-handwritten":
            run_handwritten(a)
        elif a.case in LATENCY:
            run_latency(a, a.case.split("-")[1])
        else:
            run_commits(a)
        # The report is out; a served flow's threads may still be winding down inside native
        # code, which an interpreter shutting down around them can abort. Leave at once.
        sys.stdout.flush()
        os._exit(0)

    from pg_server import Server

    pg = Server().start()
    runs: dict[str, list[dict]] = {case: [] for case in a.cases}
    try:
        with org(a) as info:
            common = ["--pubsub", info["pubsub"], "--username", info["username"], "--pg", pg.uri]
            common += ["--batch-events", str(a.batch_events), "--batch-age", str(a.batch_age), "--rate", str(a.rate), "--commit-rate", str(a.commit_rate)]
            for _ in range(a.repeat):
                for case in a.cases:
                    n = info["events"] if case in APPLY else a.writes if case in LATENCY else a.commits
                    try:
                        r = run_in_process(__file__, case, info, [*common, "--n", str(n)])
                    except RuntimeError as e:
                        print(e)
                        continue
                    runs[case].append(r)
                    usage = f"wall {r['seconds']:7.2f} s  peak RSS {r['rss_mb']:5.0f} MB  CPU client {r['client_cpu']:6.2f} s  server {r['server_cpu']:6.2f} s"
                    if case in APPLY:
                        r["rate"] = r["after_first"] / r["first_to_last"] if r["first_to_last"] > 0 else float("nan")
                        print(f"{case:18} {r['rows']:>9,} events {r['rate']:>10,.0f} events/s  {usage}", flush=True)
                    elif case in LATENCY:
                        missed = f"  ({r['missed']} never visible)" if r["missed"] else ""
                        print(
                            f"{case:18} {r['rows']:>9,} writes  p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  max {r['max_ms']:7.1f} ms  {usage}{missed}",
                            flush=True,
                        )
                    else:
                        print(
                            f"{case:18} {r['commits']:>9,} commits of {r['written']:,} inserts in {r['commit_seconds']:.1f} s; "
                            f"the table ({r['rows']:,} rows) read in {r['read_seconds']:.3f} s (median of 3)",
                            flush=True,
                        )
    finally:
        pg.stop()

    def median(case: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[case])

    if a.repeat > 1:
        for case in [c for c in a.cases if runs[c]]:
            if case in APPLY:
                print(f"{case:18} {median(case, 'rate'):>10,.0f} events/s  median of {len(runs[case])}")
            elif case in LATENCY:
                print(f"{case:18} p50 {median(case, 'p50_ms'):7.1f} ms  p99 {median(case, 'p99_ms'):7.1f} ms  median of {len(runs[case])}")
    if runs.get("apply-postgres") and runs.get("apply-handwritten"):
        print(f"apply into PostgreSQL: sfarrow / hand-written loop = {median('apply-postgres', 'rate') / median('apply-handwritten', 'rate'):.1f}x")


if __name__ == "__main__":
    main()
