"""A local Salesforce org for tests, demos and benchmarks.

``Org`` starts an emulated org on loopback that speaks Salesforce's real wire protocol (OAuth,
REST, sObject Collections, Bulk API 2.0), over plain HTTP and HTTPS::

    from sfarrow.testing import Org

    with Org(seed={"Account": 1_000}) as org:
        print(org.instance_url, org.access_token)

Everything an OAuth client needs is ready: a connected app (``client_id``, ``client_secret``,
``redirect_uri``), a user (``username``) with an RSA key pair registered for the JWT bearer flow
(``private_key_pem``), and a session (``access_token``). The credentials are generated for this
org alone and are worthless elsewhere.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from typing import Any, Optional

from sfarrow._arrow import to_arrow
from sfarrow._sfarrow import Emulator

__all__ = ["Org"]


class Org:
    """An emulated Salesforce org, running until :meth:`close` (or the end of a ``with`` block).

    Args:
        seed: records to make at start, e.g. ``{"Account": 100, "Contact": 300}`` (parents
            first: children are attached to the parents that exist).
        host: the address to listen on; loopback by default.
        port: the plain-HTTP port; 0 picks a free one.
        https: also listen over TLS with a certificate made at start (see :attr:`ca_file`).
        https_port: the HTTPS port; 0 picks a free one.
        api_version: the version :attr:`api_url` uses; the org serves 20.0 to 66.0.
        redirect_uris: OAuth callback URLs registered on the connected app.
        job_latency: seconds a Bulk job stays ``InProgress`` before it completes.
        cursor_idle: seconds a REST query cursor lives without being used.
        bulk_page_size: rows per Bulk query result page when the client sets no ``maxRecords``.
        token_lifetime: seconds an issued access token lives (``None``: until revoked).
    """

    def __init__(
        self,
        *,
        seed: Optional[Mapping[str, int]] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        https: bool = True,
        https_port: int = 0,
        api_version: str = "58.0",
        redirect_uris: Optional[Sequence[str]] = None,
        job_latency: float = 0.0,
        cursor_idle: float = 900.0,
        bulk_page_size: int = 100_000,
        token_lifetime: Optional[float] = None,
    ) -> None:
        self._emulator = Emulator(
            host=host,
            port=port,
            https=https,
            https_port=https_port,
            redirect_uris=list(redirect_uris) if redirect_uris is not None else None,
            job_latency=job_latency,
            cursor_idle=cursor_idle,
            bulk_page_size=bulk_page_size,
        )
        self.api_version = api_version
        self._tmpdir: Optional[str] = None
        self._redirect_uris = list(redirect_uris or ["http://localhost:1717/OauthRedirect"])
        if token_lifetime is not None:
            self.set_token_lifetime(token_lifetime)
        for obj, n in (seed or {}).items():
            self.seed(obj, n)

    # -- lifetime -------------------------------------------------------------------------
    def close(self) -> None:
        """Stops the server and removes the files it wrote (the CA file)."""
        self._emulator.stop()
        if self._tmpdir is not None:
            shutil.rmtree(self._tmpdir, ignore_errors=True)
            self._tmpdir = None

    def __enter__(self) -> Org:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Org(url={self.url!r}, https_url={self.https_url!r}, running={self._emulator.running})"

    # -- where and who --------------------------------------------------------------------
    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``: the login URL and instance URL over plain HTTP."""
        return self._emulator.url

    @property
    def https_url(self) -> Optional[str]:
        """``https://127.0.0.1:PORT``: the same org over TLS (trust :attr:`ca_file`)."""
        return self._emulator.https_url

    @property
    def login_url(self) -> str:
        return self.url

    @property
    def instance_url(self) -> str:
        return self.url

    @property
    def api_url(self) -> str:
        """The REST base for :attr:`api_version`: ``{url}/services/data/vXX.X``."""
        return f"{self.url}/services/data/v{self.api_version}"

    @property
    def token_url(self) -> str:
        return f"{self.url}/services/oauth2/token"

    @property
    def authorize_url(self) -> str:
        return f"{self.url}/services/oauth2/authorize"

    @property
    def ca_pem(self) -> Optional[str]:
        return self._emulator.ca_pem

    @property
    def ca_file(self) -> Optional[str]:
        """Path of a PEM file with the CA that signed the HTTPS certificate (for ``verify=``)."""
        pem = self._emulator.ca_pem
        if pem is None:
            return None
        if self._tmpdir is None:
            self._tmpdir = tempfile.mkdtemp(prefix="sfarrow-org-")
        path = os.path.join(self._tmpdir, "ca.pem")
        if not os.path.exists(path):
            with open(path, "w", encoding="ascii") as f:
                f.write(pem)
        return path

    @property
    def org_id(self) -> str:
        return self._emulator.org_id

    @property
    def user_id(self) -> str:
        return self._emulator.user_id

    @property
    def username(self) -> str:
        return self._emulator.username

    @property
    def client_id(self) -> str:
        return self._emulator.client_id

    @property
    def client_secret(self) -> str:
        return self._emulator.client_secret

    @property
    def redirect_uri(self) -> str:
        """The first OAuth callback URL registered on the connected app."""
        return self._redirect_uris[0]

    @property
    def private_key_pem(self) -> str:
        """PKCS#8 PEM of the RSA key whose public half is registered for JWT bearer."""
        return self._emulator.private_key_pem

    @property
    def public_key_pem(self) -> str:
        return self._emulator.public_key_pem

    @property
    def certificate_pem(self) -> str:
        """A self-signed X.509 certificate of the JWT key, as uploaded to a connected app."""
        return self._emulator.certificate_pem

    @property
    def access_token(self) -> str:
        """A session for :attr:`username` that never expires (unless revoked)."""
        return self._emulator.access_token

    # -- data -----------------------------------------------------------------------------
    def seed(self, object: str, count: int) -> int:
        """Makes ``count`` deterministic fake records of ``object``."""
        if count < 0:
            raise ValueError(f"count must be >= 0, got {count}")
        return self._emulator.seed(object, count)

    def count(self, object: str, include_deleted: bool = False) -> int:
        """How many records ``object`` has (deleted ones, in the recycle bin, on request)."""
        return self._emulator.count(object, include_deleted)

    def define_object(self, name: str, fields: Sequence[Mapping[str, Any]] = (), label: Optional[str] = None) -> None:
        """Adds a custom object (``Invoice__c``) with a ``Name`` field and the given fields.

        A field is a describe-style dict: ``{"name": "Amount__c", "type": "currency",
        "precision": 18, "scale": 2}``; other keys: ``length``, ``externalId``, ``unique``,
        ``required``, ``picklistValues``, ``default``, ``label``, ``referenceTo``,
        ``relationshipName``, ``childRelationship``.
        """
        self._emulator.define_object(name, json.dumps(list(map(dict, fields))), label)

    def define_field(self, object: str, field: Mapping[str, Any]) -> None:
        """Adds a custom field to an object; existing records read it as null."""
        self._emulator.define_field(object, json.dumps(dict(field)))

    def load(self, object: str, data: Any) -> list[str]:
        """Inserts rows (Arrow data, a pandas or polars DataFrame, or a list of dicts) with the
        same rules as a Bulk upload; returns the new record ids in row order."""
        return self._emulator.load(object, to_arrow(data, "load"))

    def commit_late(self, object: str, records: Sequence[Mapping[str, Any]], *, age: float) -> list[str]:
        """Writes ``records`` as a transaction that began ``age`` seconds ago and commits now.

        A real org stamps a transaction's records (``SystemModstamp``, ``LastModifiedDate``)
        with the time it began, so a long transaction's changes appear behind records written
        after it began: the case an incremental reader must not skip. Records with an ``Id``
        are updated, others inserted; returns their ids in order. JSON values as REST takes
        them (datetimes as text, parents as ``{"Account": {"Ext_Id__c": "A-1"}}``)."""
        if not age >= 0:
            raise ValueError(f"age is a number of seconds, 0 or more; got {age!r}")
        return self._emulator.commit_late(object, json.dumps([dict(r) for r in records], default=str), float(age))

    # -- test controls --------------------------------------------------------------------
    def fail_ingest_jobs(self, message: str = "InvalidBatch : Failed to process the job", *, times: int = 1) -> None:
        """The next ``times`` Bulk ingest jobs to close fail as a whole (state ``Failed``, this
        ``errorMessage``), none of their rows processed, as an org fails a job it cannot run."""
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        self._emulator.fail_ingest_jobs(message, times)

    def set_token_lifetime(self, seconds: Optional[float]) -> None:
        """Access tokens issued from now on expire after ``seconds`` (``None``: never)."""
        self._emulator.set_token_lifetime(seconds)

    def set_refresh_token_rotation(self, rotate: bool) -> None:
        """When on, every refresh-token grant returns a new refresh token and revokes the old."""
        self._emulator.set_refresh_token_rotation(rotate)

    def set_api_limit(self, max: int, used: int = 0) -> None:
        """The daily API allowance reported in ``Sforce-Limit-Info``; past it, calls get 403
        ``REQUEST_LIMIT_EXCEEDED``."""
        self._emulator.set_api_limit(max, used)

    def api_usage(self) -> tuple[int, int]:
        """(used, max) of the daily API allowance."""
        return self._emulator.api_usage()

    def add_redirect_uri(self, uri: str) -> None:
        """Registers another OAuth callback URL on the connected app."""
        self._emulator.add_redirect_uri(uri)
        self._redirect_uris.append(uri)

    def inject_fault(
        self,
        kind: str,
        *,
        nth: Optional[int] = None,
        rate: Optional[float] = None,
        path: Optional[str] = None,
        delay: float = 0.0,
        times: Optional[int] = None,
    ) -> None:
        """Makes requests fail: ``"503"`` (a ``SERVER_UNAVAILABLE`` answer, nothing applied),
        ``"drop"`` (the connection closes before the request is read: nothing applied, no
        answer), ``"drop_after"`` (the request is applied, then the connection closes before
        any answer), ``"truncate"`` (the request is applied; the headers and half the body
        arrive, then the connection is cut; an answer without a body is lost whole),
        ``"short_page"`` (the body is cut at a line boundary half way and sent as if whole:
        a Bulk CSV page that still parses, short of rows) or ``"delay"`` (the answer waits ``delay`` seconds).

        It fires on the ``nth`` matching request from now (once), or on each matching request
        with probability ``rate``, or else on every matching request; at most ``times`` times.
        A request matches when its path contains ``path`` (all requests if ``None``).
        """
        self._emulator.inject_fault(kind, nth=nth, rate=rate, path=path, delay=delay, times=times)

    def clear_faults(self) -> None:
        self._emulator.clear_faults()

    def requests(self) -> list[dict[str, Any]]:
        """The requests served so far, oldest first: ``method``, ``path``, ``query``,
        ``status`` (0 when the connection was dropped), ``headers`` (credentials masked),
        ``grant_type`` (token requests) and ``time``."""
        return self._emulator.requests()

    def clear_requests(self) -> None:
        self._emulator.clear_requests()
