"""A local Salesforce org for tests, demos and benchmarks.

``Org`` starts an emulated org on loopback that speaks Salesforce's real wire protocol (OAuth,
REST, sObject Collections, Bulk API 2.0, the SOAP ``login`` and ``undelete`` calls, and the gRPC
Pub/Sub API with change data capture and platform events), over plain HTTP and HTTPS::

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
        pubsub: serve the Pub/Sub API (gRPC) over TLS (:attr:`pubsub_url`) and in plaintext
            (:attr:`pubsub_plain_url`).
        pubsub_port, pubsub_plain_port: their ports; 0 picks free ones.
        pubsub_keepalive: seconds between the empty responses an idle subscription gets
            (Salesforce: 270).
        event_retention: seconds events stay on the bus (Salesforce: 72 hours).
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
        pubsub: bool = True,
        pubsub_port: int = 0,
        pubsub_plain_port: int = 0,
        pubsub_keepalive: float = 270.0,
        event_retention: float = 72 * 3600.0,
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
            pubsub=pubsub,
            pubsub_port=pubsub_port,
            pubsub_plain_port=pubsub_plain_port,
            pubsub_keepalive=pubsub_keepalive,
            event_retention=event_retention,
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
    def pubsub_url(self) -> Optional[str]:
        """``127.0.0.1:PORT``: the Pub/Sub API over TLS (trust :attr:`ca_pem`), as Salesforce's
        ``api.pubsub.salesforce.com:7443``; pass it as ``pubsub_url=`` to a connection."""
        return self._emulator.pubsub_url

    @property
    def pubsub_plain_url(self) -> Optional[str]:
        """``http://127.0.0.1:PORT``: the Pub/Sub API in plaintext."""
        return self._emulator.pubsub_plain_url

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

    def lock_records(self, ids: Sequence[str], *, times: int = 1) -> None:
        """The next ``times`` writes (updates, upserts, deletes) to each of ``ids`` fail with
        ``UNABLE_TO_LOCK_ROW``, as while another transaction holds the records; ``times=0``
        releases them."""
        if times < 0:
            raise ValueError(f"times must be 0 or more, got {times}")
        self._emulator.lock_records([str(i) for i in ids], times)

    def expire_sessions(self) -> None:
        """Every access token issued so far expires now, as if its lifetime had run out:
        ``INVALID_SESSION_ID`` on its next call (refresh tokens stay good, so a connection with
        a grant renews)."""
        self._emulator.expire_sessions()

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
        ``"429"`` (too many requests, nothing applied),
        ``"drop"`` (the connection closes before the request is read: nothing applied, no
        answer), ``"drop_after"`` (the request is applied, then the connection closes before
        any answer), ``"truncate"`` (the request is applied; the headers and half the body
        arrive, then the connection is cut; an answer without a body is lost whole),
        ``"short_page"`` (the body is cut at a line boundary half way and sent as if whole:
        a Bulk CSV page that still parses, short of rows), ``"lost_rows"`` (half a page's rows
        gone with the page's own count agreeing: a Bulk page's ``Sforce-NumberOfRecords``
        rewritten, a REST page's ``totalSize`` kept) or ``"delay"`` (the answer waits ``delay`` seconds).

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
        ``grant_type`` (token requests), ``fault`` (the injected fault that struck it, by the
        name :meth:`inject_fault` takes, or ``None``) and ``time``."""
        return self._emulator.requests()

    def clear_requests(self) -> None:
        """Empties the request log and the list of faults that struck."""
        self._emulator.clear_requests()

    def faults_struck(self) -> list[str]:
        """The injected faults that struck since the log was last cleared, by the names
        :meth:`inject_fault` takes, oldest first: a request held back until its client gave up
        is never in :meth:`requests`, but its fault is here."""
        return self._emulator.faults_struck()

    # -- events ---------------------------------------------------------------------------
    def define_event(self, name: str, fields: Sequence[Mapping[str, Any]] = ()) -> None:
        """Defines a platform event ``Name__e`` with custom fields (dicts as for
        :meth:`define_object`). It has ``CreatedDate``, ``CreatedById``, ``ReplayId`` and
        ``EventUuid`` besides, shows in describe, and is published on ``/event/Name__e``."""
        self._emulator.define_event(name, json.dumps(list(map(dict, fields))))

    def select_change_events(self, objects: Sequence[str]) -> None:
        """Selects the objects that emit change events (``["all"]`` for every object), as
        Setup's Change Data Capture page does; a new org selects none."""
        if isinstance(objects, str):
            objects = [objects]
        self._emulator.select_change_events(list(objects))

    def change_events_selected(self) -> list[str]:
        return self._emulator.change_events_selected()

    def expire_events(self, older_than: float = 0.0) -> None:
        """Drops events older than ``older_than`` seconds from the bus now, as the retention
        window does; their replay ids then fail with ``replayid.corrupted``."""
        self._emulator.expire_events(older_than)

    def publish_gap(self, object: str, change_type: str, ids: Sequence[str]) -> None:
        """Publishes a header-only gap event (``GAP_CREATE``, ``GAP_UPDATE``, ``GAP_DELETE``,
        ``GAP_UNDELETE`` or ``GAP_OVERFLOW``), as an org does for changes it could not capture."""
        self._emulator.publish_gap(object, change_type, list(ids))

    def set_overflow_threshold(self, changes: int) -> None:
        """Changes past this many in one transaction become one ``GAP_OVERFLOW`` event per
        object (Salesforce: 100,000)."""
        if changes < 0:
            raise ValueError(f"changes must be >= 0, got {changes}")
        self._emulator.set_overflow_threshold(changes)

    def lose_change_events(self, events: int = 1) -> None:
        """The next ``events`` change events are lost: their changes commit, the events are
        never published (a real bus can, rarely, lose one; a reconciling sweep repairs it)."""
        if events < 0:
            raise ValueError(f"events must be >= 0, got {events}")
        self._emulator.lose_change_events(events)

    def set_pubsub_keepalive(self, every: float) -> None:
        self._emulator.set_pubsub_keepalive(every)

    def inject_pubsub_fault(self, kind: str, *, after_events: int = 0, times: int = 1) -> None:
        """Breaks subscriptions: ``"drop"`` (the connection is cut), ``"end"`` (the stream ends
        UNAVAILABLE), ``"expire_token"`` (the stream's session ends: it fails UNAUTHENTICATED and
        the token stops working) once a stream has delivered ``after_events`` events; or fails
        calls: ``"unavailable"`` (the next call fails with ``service.unavailable``),
        ``"unauthenticated"`` (the next call is refused with ``service.auth.error``, however
        fresh its session: a service that refuses every session) or ``"drop_after"`` (the next
        Publish is applied, then its connection is cut before the answer). ``times`` times."""
        if after_events < 0 or times < 1:
            raise ValueError("after_events must be >= 0 and times >= 1")
        self._emulator.inject_pubsub_fault(kind, after_events, times)

    def clear_pubsub_faults(self) -> None:
        self._emulator.clear_pubsub_faults()

    def event_count(self) -> int:
        """How many events the bus holds."""
        return self._emulator.event_count()
