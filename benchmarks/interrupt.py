"""How long Ctrl-C takes to stop a call that waits on a slow answer.

Each case runs in a fresh client process against an emulated org whose answer to one request
is held back two minutes (the emulator's ``delay`` fault). Once the request is out, the parent
sends SIGINT and the child notes when ``KeyboardInterrupt`` reached it: the figure is the time
between the two (both read the system's monotonic clock). Cases: a streamed REST read, a Bulk
read waiting for a result page, a REST write, and an incremental flow.

    python benchmarks/interrupt.py --repeat 5
"""

from __future__ import annotations

import argparse
import signal
import statistics
import subprocess
import sys
import textwrap
import time

from sfarrow.testing import Org

CHILD = """
import sys, tempfile, time, sfarrow
conn = sfarrow.Connection({url!r}, {token!r})
print("ready", flush=True)
try:
    {body}
except KeyboardInterrupt:
    print(f"caught {{time.monotonic():.6f}}", flush=True)
    sys.exit(0)
sys.exit(3)
"""

CASES = {
    "rest-read": (
        "/query/",
        """
reader = conn.query_batches("SELECT Id FROM Account", api="rest", parallel=1)
reader.read_next_batch()
for b in reader:
    pass
""",
    ),
    "bulk-read": (
        "/results",
        """
for b in conn.query_batches("SELECT Id FROM Account", api="bulk", bulk_page_size=1000, parallel=1):
    pass
""",
    ),
    "rest-write": (
        "/composite/sobjects",
        """
conn.insert("Account", [{"Name": f"w-{i}"} for i in range(800)], api="rest")
""",
    ),
    "flow": (
        "/query/",
        """
source = sfarrow.SalesforceSource(conn, "Account", fields=["Id"], api="rest", incremental="SystemModstamp", lag=0)
sfarrow.Flow(source, sfarrow.ParquetDestination(tempfile.mkdtemp()), state=tempfile.mktemp(), progress=False).run()
""",
    ),
}


def once(org: Org, path: str, body: str) -> float:
    org.clear_faults()
    org.clear_requests()
    org.inject_fault("delay", path=path, delay=120.0)
    child = textwrap.dedent(CHILD).format(url=org.url, token=org.access_token, body=textwrap.indent(textwrap.dedent(body), "    ").strip())
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    deadline = time.monotonic() + 60
    # The held request has reached the org once its fault struck: the child waits on it now.
    while "delay" not in org.faults_struck():
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("the slow request never went out")
        time.sleep(0.01)
    sent = time.monotonic()
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    if proc.returncode != 0:
        raise RuntimeError(f"the child did not stop on Ctrl-C: {out!r}")
    return float(out.split()[-1]) - sent


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--cases", nargs="*", default=list(CASES))
    args = p.parse_args()
    with Org(seed={"Account": 5000}, https=False) as org:
        print(f"{'case':<12} {'median ms':>10} {'max ms':>8}  ({args.repeat} runs each)")
        for name in args.cases:
            path, body = CASES[name]
            took = [once(org, path, body) * 1000 for _ in range(args.repeat)]
            print(f"{name:<12} {statistics.median(took):>10.1f} {max(took):>8.1f}")


if __name__ == "__main__":
    main()
