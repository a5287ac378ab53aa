"""Fixtures for the emulator wire-protocol suites.

* `org`        — module-scoped emulator seeded small; tests on it must not depend on what other
                 tests in the module wrote (they tag their own records).
* `fresh_org`  — function-scoped emulator for tests that mutate org-wide state (limits, faults,
                 token lifetime, schema) or need exact counts.

Every HTTP request made through `requests` (including simple-salesforce's) gets a default timeout
and is refused unless it targets loopback.
"""

from __future__ import annotations

import os
import sys
from urllib.parse import urlparse

import pytest
import requests

sys.path.insert(0, os.path.dirname(__file__))

from sf_helpers import LOOPBACK_HOSTS, api, auth_headers  # noqa: F401  (re-exported helpers)

SEED = {"Account": 30, "Contact": 60, "Opportunity": 20, "Lead": 10, "Case": 10}
FRESH_SEED = {"Account": 5, "Contact": 5}

_orig_request = requests.Session.request


def _guarded_request(self, method, url, *args, **kwargs):
    host = urlparse(url).hostname
    if host not in LOOPBACK_HOSTS:
        raise AssertionError(f"test tried to reach a non-loopback host: {url}")
    if kwargs.get("timeout") is None:
        kwargs["timeout"] = 20
    return _orig_request(self, method, url, *args, **kwargs)


requests.Session.request = _guarded_request


def _new_org(seed):
    from sfarrow.testing import Org

    return Org(seed=seed)


@pytest.fixture(scope="module")
def org():
    with _new_org(SEED) as o:
        yield o


@pytest.fixture
def fresh_org():
    with _new_org(FRESH_SEED) as o:
        yield o


@pytest.fixture(scope="session")
def postgres_uri():
    """A PostgreSQL server of its own for the test session (see tests/pg_server.py)."""
    from pg_server import Server

    server = Server().start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture(scope="session")
def s3():
    """A local S3 (moto's server, in a process of its own: deltalake holds the GIL while it
    waits on S3, which would stall a server thread in this process) with a bucket; yields the
    storage options that reach it."""
    import socket
    import subprocess
    import time

    import boto3

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("moto's S3 server did not start") from None
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing").create_bucket(
        Bucket="lake"
    )
    try:
        yield {
            "aws_endpoint": endpoint,
            "aws_allow_http": "true",
            "aws_access_key_id": "testing",
            "aws_secret_access_key": "testing",
            "aws_region": "us-east-1",
        }
    finally:
        server.terminate()
        server.wait(10)
