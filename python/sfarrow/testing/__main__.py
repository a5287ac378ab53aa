"""``python -m sfarrow.testing serve --port 8080 --seed Account=100000``: serve an emulated org."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import time
from typing import Optional, Sequence

from sfarrow.testing import Org


def _seed_arg(text: str) -> tuple[str, int]:
    name, _, count = text.partition("=")
    if not name or not count.isdigit():
        raise argparse.ArgumentTypeError(f"expected OBJECT=COUNT, e.g. Account=1000, got {text!r}")
    return name, int(count)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m sfarrow.testing", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run an emulated Salesforce org until interrupted")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=0, help="plain HTTP port (0: a free one)")
    serve.add_argument("--https-port", type=int, default=0, help="HTTPS port (0: a free one)")
    serve.add_argument("--no-https", action="store_true", help="serve plain HTTP only")
    serve.add_argument("--seed", type=_seed_arg, action="append", default=[], metavar="OBJECT=N")
    serve.add_argument("--job-latency", type=float, default=0.0, help="seconds Bulk jobs stay InProgress")
    serve.add_argument("--bulk-page-size", type=int, default=100_000)
    serve.add_argument("--duration", type=float, default=None, help="stop after this many seconds")
    args = parser.parse_args(argv)

    org = Org(
        host=args.host,
        port=args.port,
        https=not args.no_https,
        https_port=args.https_port,
        job_latency=args.job_latency,
        bulk_page_size=args.bulk_page_size,
    )
    started = time.perf_counter()
    for name, count in args.seed:
        org.seed(name, count)
        print(f"seeded {count:,} {name} records", flush=True)
    if args.seed:
        print(f"seeding took {time.perf_counter() - started:.1f} s", flush=True)
    # These are the emulator's own throwaway credentials: printing them is how a user gets them.
    print(f"instance_url  {org.url}")
    if org.pubsub_url:
        print(f"pubsub_url    {org.pubsub_url}   (plaintext: {org.pubsub_plain_url})")
    if org.https_url:
        print(f"https_url     {org.https_url}   (CA: {org.ca_file})")
    print(f"username      {org.username}")
    print(f"client_id     {org.client_id}")
    print(f"client_secret {org.client_secret}")
    print(f"access_token  {org.access_token}")
    print("serving; press Ctrl-C to stop", flush=True)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        stop.wait(args.duration)
    except KeyboardInterrupt:
        pass
    finally:
        org.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
