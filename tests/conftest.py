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
