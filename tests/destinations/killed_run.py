"""A flow run that kills itself with SIGKILL at a chosen point (run by test_exactly_once.py).

    python killed_run.py URL TOKEN KIND TARGET POINT

POINT: ``mid-read`` (after the first batch went to the destination), ``before-commit`` (the
destination has every batch, nothing is committed), ``after-commit`` (the destination has
committed, the flow has not returned)."""

from __future__ import annotations

import os
import signal
import sys

import sfarrow
from sfarrow import destinations as d

sys.path.insert(0, os.path.dirname(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
from test_exactly_once import destination, source


def die() -> None:
    sys.stdout.flush()
    os.kill(os.getpid(), signal.SIGKILL)


class Killing:
    """The destination, with a SIGKILL at ``point``."""

    def __init__(self, inner: d.StatefulDestination, point: str) -> None:
        self.inner = inner
        self.point = point

    def load_state(self, flow: str):
        return self.inner.load_state(flow)

    def deliver(self, schema, batches, run):
        def fed():
            for i, b in enumerate(batches):
                if self.point == "mid-read" and i == 1:
                    die()
                yield b
            if self.point == "before-commit":
                die()

        delivered = self.inner.deliver(schema, fed(), run)
        if self.point == "after-commit":
            die()
        return delivered


def main() -> None:
    url, token, kind, target, point = sys.argv[1:]
    conn = sfarrow.Connection(url, token)
    sfarrow.Flow(source(conn), Killing(destination(kind, target), point), state="accounts", progress=False).run()
    print("the run was not killed", file=sys.stderr)
    sys.exit(3)


if __name__ == "__main__":
    main()
