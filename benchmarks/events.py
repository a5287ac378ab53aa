"""Events benchmark: sfarrow against pysfpubsub on the emulator's Pub/Sub API (not a test).

Starts an org in its own process (``sfarrow.testing.Org``: the ``serve`` CLI cannot define a
platform event), publishes N platform events (``/event/Order__e``) and makes M change events
(``/data/AccountChangeEvent``, from a Bulk insert of M Account rows), then runs each case in a
fresh process:

  decode throughput, events/s from the first batch received to the last (connection setup
  excluded; the wall time with it is printed too), subscribing from the earliest event:
    sfarrow              the stream decoded into Arrow batches of 100 events
    pysfpubsub           the same stream through pysfpubsub (PyPI), each event decoded into a
                         dict by its own ``client.decode``, which parses the schema per event
                         as its users' callbacks do; capped at --peer-events events
    pysfpubsub-reuse     the same, the schema parsed once and one ``avro.io.DatumReader`` and
                         ``BinaryDecoder`` reused for every event (pysfpubsub's transport, a
                         fairer Avro decoder); capped alike

  latency from a write to its event's delivery, p50 / p99 / max (a subscriber at "latest"
  and a writer thread in one process, ~--latency-rate writes a second):
    latency-cdc          a single-record REST insert (requests) to its change event
    latency-platform     ``conn.publish`` of one platform event to its delivery

    python benchmarks/events.py
    python benchmarks/events.py --events 100000 --cdc-events 50000 --peer-events 10000 --repeat 3
    python benchmarks/events.py --cases sfarrow-platform pysfpubsub-platform

Build with ``maturin develop --release`` first.
"""

from __future__ import annotations

import argparse
import io
import math
import os
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from _harness import measure, org_process, parser, run_in_process, session

PLATFORM = "/event/Order__e"
CDC = "/data/AccountChangeEvent"
ORDER_FIELDS = [{"name": "Sku__c", "type": "string"}, {"name": "Qty__c", "type": "double"}]
THROUGHPUT = [f"{client}-{kind}" for kind in ("platform", "cdc") for client in ("sfarrow", "pysfpubsub", "pysfpubsub-reuse")]
LATENCY = ["latency-cdc", "latency-platform"]
CASES = THROUGHPUT + LATENCY
CHUNK = 10_000  # platform events per publish call while seeding


def topic_of(case: str) -> str:
    return CDC if case.endswith("cdc") else PLATFORM


def connection(a):
    import sfarrow

    return sfarrow.Connection(a.url, a.token, pubsub_url=a.pubsub, ca_file=a.ca)


def run_sfarrow(case: str, a, n: int) -> None:
    extra: dict = {}

    def work() -> int:
        conn = connection(a)
        first = last = 0.0
        rows = first_rows = 0
        with conn.subscribe(topic_of(case), replay="earliest", max_events=n, batch_size=100) as stream:
            for batch in stream:
                last = time.perf_counter()
                if not rows:
                    first, first_rows = last, batch.num_rows
                rows += batch.num_rows
        extra.update(after_first=rows - first_rows, first_to_last=last - first)
        return rows

    measure(work, extra)


def run_peer(case: str, a, n: int) -> None:
    """pysfpubsub as its README uses it: SOAP login, ``subscribe`` with a callback that frees
    the semaphore when a response's credit is used up; stops by raising from the callback."""
    import avro.io
    import avro.schema
    import grpc
    import pysfpubsub.pubsub as ps

    with open(a.ca, "rb") as f:
        ps.secure_channel_credentials = grpc.ssl_channel_credentials(f.read())
    host, port = a.pubsub.rsplit(":", 1)
    reuse = case.startswith("pysfpubsub-reuse")
    extra: dict = {}

    class Done(Exception):
        pass

    def work() -> int:
        client = ps.Client(url=a.url, username=a.username, password="x", grpc_host=host, grpc_port=int(port))
        client.auth()
        readers: dict[str, avro.io.DatumReader] = {}
        buf = io.BytesIO()
        decoder = avro.io.BinaryDecoder(buf)

        def decode_once(schema_id: str, payload: bytes) -> dict:
            reader = readers.get(schema_id)
            if reader is None:
                reader = readers[schema_id] = avro.io.DatumReader(avro.schema.parse(client.get_schema_json(schema_id)))
            buf.seek(0)
            buf.write(payload)
            buf.truncate()
            buf.seek(0)
            return reader.read(decoder)

        state = {"rows": 0, "first_rows": 0, "first": 0.0, "last": 0.0}

        def callback(event, c) -> None:
            for e in event.events:
                if reuse:
                    decode_once(e.event.schema_id, e.event.payload)
                else:
                    c.decode(c.get_schema_json(e.event.schema_id), e.event.payload)
                state["rows"] += 1
                if state["rows"] >= n:
                    state["last"] = time.perf_counter()
                    raise Done
            if event.events:
                state["last"] = time.perf_counter()
                if not state["first_rows"]:
                    state["first"], state["first_rows"] = state["last"], state["rows"]
            if event.pending_num_requested == 0:
                c.release_subscription_semaphore()

        try:
            client.subscribe(topic_of(case), "EARLIEST", b"", 100, callback)
        except Done:
            pass
        client.release_subscription_semaphore()
        extra.update(after_first=state["rows"] - state["first_rows"], first_to_last=state["last"] - state["first"])
        return state["rows"]

    measure(work, extra)


def run_latency(case: str, a, n: int) -> None:
    """A subscriber at "latest" in this thread, a writer thread making ``n`` writes at
    ``--latency-rate`` a second. The writer notes ``perf_counter()`` before each write, the
    subscriber when the event carrying that record (or Sku__c) arrives. Warm-up writes, until
    one is delivered, make sure the subscription is live before the timed ones start; an
    untimed write after the timed ones ends the stream."""
    cdc = case == "latency-cdc"
    sent: dict[str, float] = {}
    arrived: dict[str, float] = {}
    done = threading.Event()
    failed: list[BaseException] = []
    extra: dict = {}

    def writer() -> None:
        try:
            if cdc:
                s = session(a.ca)
                s.headers["Authorization"] = f"Bearer {a.token}"

                def write(i: int) -> tuple[str, float]:
                    t0 = time.perf_counter()
                    r = s.post(f"{a.api_url}/sobjects/Account", json={"Name": f"Latency {i}"})
                    r.raise_for_status()
                    return r.json()["id"], t0

            else:
                pub = connection(a)

                def write(i: int) -> tuple[str, float]:
                    key = f"LAT-{i}"
                    t0 = time.perf_counter()
                    pub.publish(PLATFORM, [{"Sku__c": key, "Qty__c": 1.0}])
                    return key, t0

            for warm in range(-1, -50, -1):
                key, _ = write(warm)
                deadline = time.perf_counter() + 1.0
                while key not in arrived and time.perf_counter() < deadline:
                    time.sleep(0.005)
                if key in arrived:
                    break
            else:
                raise RuntimeError("no warm-up write was delivered")
            start = time.perf_counter()
            for i in range(n):
                time.sleep(max(0.0, start + i / a.latency_rate - time.perf_counter()))
                key, t0 = write(i)
                sent[key] = t0
            # An untimed last write: its event follows every timed one's, and wakes the
            # subscriber after ``done`` is set (the last timed event may come before it is).
            done.set()
            write(n)
        except BaseException as e:  # reported by the subscriber thread
            failed.append(e)
        finally:
            done.set()

    def work() -> int:
        conn = connection(a)
        thread = threading.Thread(target=writer, daemon=True)
        with conn.subscribe(topic_of(case), replay="latest", batch_size=100, idle_timeout=5.0) as stream:
            thread.start()
            for batch in stream:
                now = time.perf_counter()
                if cdc:
                    for ids in batch.column("record_ids").to_pylist():
                        for rid in ids:
                            arrived[rid] = now
                else:
                    for key in batch.column("Sku__c").to_pylist():
                        arrived[key] = now
                if done.is_set() and sent.keys() <= arrived.keys():
                    break
        thread.join()
        if failed:
            raise failed[0]
        ms = sorted((arrived[k] - t0) * 1000 for k, t0 in sent.items() if k in arrived)
        extra.update(
            p50_ms=statistics.median(ms),
            p99_ms=ms[math.ceil(0.99 * len(ms)) - 1],
            max_ms=ms[-1],
            missed=len(sent) - len(ms),
        )
        return len(ms)

    measure(work, extra)


def serve(a) -> None:
    """The org, in a process of its own (a child's peak RSS would start from its parent's, as
    Linux keeps the high-water mark across fork and exec): defines the event, seeds, prints
    what the cases need as one JSON line, and serves until its stdin closes."""
    import json

    from sfarrow.testing import Org

    with Org() as org:
        org.define_event("Order__e", ORDER_FIELDS)
        org.select_change_events(["Account"])
        counts = seed(org, a, a.cases)
        info = {"url": org.url, "token": org.access_token, "ca": org.ca_file, "pid": str(os.getpid())}
        info.update(pubsub=org.pubsub_url, username=org.username, api_url=org.api_url, cdc=counts[CDC], platform=counts[PLATFORM])
        print(json.dumps(info), flush=True)
        sys.stdin.read()


def org(a):
    """The org process (:func:`serve` in this script), by :func:`_harness.org_process`."""
    return org_process([sys.executable, __file__, "--case", "serve", "--events", str(a.events), "--cdc-events", str(a.cdc_events), "--cases", *a.cases])


def seed(org, a, cases: list[str]) -> dict[str, int]:
    """Makes the events the throughput cases read; returns how many each topic holds."""
    import pyarrow as pa

    import sfarrow

    conn = sfarrow.Connection(org.url, org.access_token, pubsub_url=org.pubsub_url, ca_file=org.ca_file)
    counts = {CDC: 0, PLATFORM: 0}
    if any(c in cases for c in ("sfarrow-cdc", "pysfpubsub-cdc", "pysfpubsub-reuse-cdc")):
        n, t, before = a.cdc_events, time.perf_counter(), org.event_count()
        rows = pa.table(
            {
                "Name": [f"Company {i}" for i in range(n)],
                "NumberOfEmployees": pa.array(range(n), pa.int32()),
                "AnnualRevenue": pa.array([float(i * 10) for i in range(n)]),
                "Industry": ["Energy"] * n,
                "Phone": ["(415) 555-0100"] * n,
            }
        )
        ok = sum(conn.insert("Account", rows, api="bulk")["success"].to_pylist())
        counts[CDC] = org.event_count() - before
        print(f"seeded {counts[CDC]:,} change events from a {ok:,}-row Bulk insert in {time.perf_counter() - t:.1f} s", flush=True)
    if any(c in cases for c in ("sfarrow-platform", "pysfpubsub-platform", "pysfpubsub-reuse-platform")):
        n, t, before = a.events, time.perf_counter(), org.event_count()
        ok = 0
        for start in range(0, n, CHUNK):
            k = min(CHUNK, n - start)
            chunk = pa.table({"Sku__c": [f"SKU-{i:07d}" for i in range(start, start + k)], "Qty__c": pa.array([float(i % 50) for i in range(k)])})
            ok += sum(conn.publish(PLATFORM, chunk)["success"].to_pylist())
        counts[PLATFORM] = org.event_count() - before
        print(f"seeded {counts[PLATFORM]:,} platform events ({ok:,} published) in {time.perf_counter() - t:.1f} s", flush=True)
    return counts


def main() -> None:
    p = parser(__doc__)
    p.add_argument("--events", type=int, default=100_000, help="platform events to publish and read")
    p.add_argument("--cdc-events", type=int, default=50_000, help="Account rows to Bulk insert: one change event each")
    p.add_argument("--peer-events", type=int, default=10_000, help="events pysfpubsub decodes (it is slow); its rate is over these")
    p.add_argument("--latency-writes", type=int, default=300)
    p.add_argument("--latency-rate", type=float, default=50.0, help="writes a second in the latency cases")
    p.add_argument("--cases", nargs="+", default=CASES, choices=CASES)
    p.add_argument("--repeat", type=int, default=1, help="runs of each case; figures are medians")
    for hidden in ("--pubsub", "--username", "--api-url"):
        p.add_argument(hidden, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.case == "serve":
        return serve(a)
    if a.case:
        # Imports are not part of a case's time: each library is loaded before the clock starts.
        if a.case.startswith("pysfpubsub"):
            import avro.io  # noqa: F401
            import pysfpubsub.pubsub  # noqa: F401
        else:
            import pyarrow  # noqa: F401
            import requests  # noqa: F401

            import sfarrow  # noqa: F401
        if a.case.startswith("sfarrow"):
            run_sfarrow(a.case, a, a.n)
        elif a.case.startswith("pysfpubsub"):
            run_peer(a.case, a, a.n)
        else:
            run_latency(a.case, a, a.n)
        return

    runs: dict[str, list[dict]] = {case: [] for case in a.cases}
    with org(a) as info:
        counts = {CDC: info["cdc"], PLATFORM: info["platform"]}
        hidden = ["--pubsub", info["pubsub"], "--username", info["username"], "--api-url", info["api_url"], "--latency-rate", str(a.latency_rate)]
        # Rounds interleave the cases, so a noisy minute on a shared machine hits them alike.
        for _ in range(a.repeat):
            for case in a.cases:
                if case in LATENCY:
                    n = a.latency_writes
                else:
                    n = counts[topic_of(case)]
                    if case.startswith("pysfpubsub"):
                        n = min(n, a.peer_events)
                try:
                    r = run_in_process(__file__, case, info, [*hidden, "--n", str(n)])
                except RuntimeError as e:
                    print(e)
                    continue
                if case not in LATENCY:
                    assert r["rows"] == n, (case, r)
                runs[case].append(r)
                usage = f"wall {r['seconds']:6.2f} s  peak RSS {r['rss_mb']:5.0f} MB  CPU client {r['client_cpu']:6.2f} s  server {r['server_cpu']:6.2f} s"
                if case in LATENCY:
                    missed = f"  ({r['missed']} not delivered)" if r["missed"] else ""
                    print(
                        f"{case:26} {r['rows']:>9,} writes   p50 {r['p50_ms']:7.1f} ms  p99 {r['p99_ms']:7.1f} ms  max {r['max_ms']:7.1f} ms  {usage}{missed}",
                        flush=True,
                    )
                else:
                    r["rate"] = r["after_first"] / r["first_to_last"] if r["first_to_last"] > 0 else float("nan")
                    total = counts[topic_of(case)]
                    cap = f"  (capped: the first {n:,} of {total:,}, --peer-events)" if n < total else ""
                    print(f"{case:26} {r['rows']:>9,} events {r['rate']:>10,.0f} events/s  {usage}{cap}", flush=True)

    def median(case: str, key: str) -> float:
        return statistics.median(r[key] for r in runs[case])

    done = [case for case in a.cases if runs[case]]
    if a.repeat > 1:
        for case in done:
            if case in LATENCY:
                figures = f"p50 {median(case, 'p50_ms'):7.1f} ms  p99 {median(case, 'p99_ms'):7.1f} ms  max {median(case, 'max_ms'):7.1f} ms"
            else:
                figures = f"{median(case, 'rate'):>10,.0f} events/s  wall {median(case, 'seconds'):6.2f} s"
            print(f"{case:26} {figures}  median of {len(runs[case])}")
    for kind in ("platform", "cdc"):
        fast = f"sfarrow-{kind}"
        for slow in (f"pysfpubsub-{kind}", f"pysfpubsub-reuse-{kind}"):
            if fast in done and slow in done:
                capped = min(counts[topic_of(kind)], a.peer_events)
                print(
                    f"{kind:8} events/s: sfarrow / {slow.rsplit('-', 1)[0]} = {median(fast, 'rate') / median(slow, 'rate'):.1f}x  (pysfpubsub over its first {capped:,} events)"
                )


if __name__ == "__main__":
    main()
