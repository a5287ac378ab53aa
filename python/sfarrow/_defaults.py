"""Every default of the public API, in one place: the signatures of ``Connection``, its
sources, destinations and the emulator take their defaults from here, and nothing below
(the compiled module included) has defaults of its own. What the Rust core also applies
(connections, reads, writes) comes from the core itself (``sfarrow_client::defaults``, through
``_sfarrow.defaults()``), so the two cannot differ; the rest is Python's alone."""

from __future__ import annotations

from typing import Literal

from sfarrow._sfarrow import defaults as _core_defaults

#: The words an argument takes, typed, for the public signatures.
ReadApi = Literal["auto", "rest", "bulk"]
WriteApi = Literal["auto", "rest", "bulk"]
Operation = Literal["insert", "update", "upsert", "delete", "hardDelete"]
OnError = Literal["raise", "continue"]
OnInvalidReplay = Literal["raise", "earliest"]

_CORE = _core_defaults()

# Connections.
API_VERSION: str = _CORE["api_version"]
REQUEST_TIMEOUT: float = _CORE["request_timeout"]
RETRIES: int = _CORE["retries"]
GZIP: bool = _CORE["gzip"]
ENVIRONMENT = "production"
# Salesforce's Pub/Sub API endpoint, the same for every org.
PUBSUB_URL: str = _CORE["pubsub_url"]
JWT_ASSERTION_LIFETIME = 180.0
OAUTH_PORT = 1717
OAUTH_SCOPE = "api refresh_token"
AUTHORIZATION_TIMEOUT = 300.0
DEVICE_TIMEOUT = 600.0

# Reads.
READ_API: ReadApi = _CORE["read_api"]
BULK_THRESHOLD: int = _CORE["bulk_threshold"]
BULK_PAGE_SIZE: int = _CORE["bulk_page_size"]
PARALLEL: int = _CORE["parallel"]

# Events.
EVENT_REPLAY = "latest"
EVENT_BATCH_SIZE = 100
ON_INVALID_REPLAY: OnInvalidReplay = "raise"

# Writes.
WRITE_API: WriteApi = _CORE["write_api"]
ON_ERROR: OnError = "raise"
WRITE_BULK_THRESHOLD: int = _CORE["write_bulk_threshold"]
WRITE_PARALLEL: int = _CORE["write_parallel"]

# A Salesforce destination writes this many rows a call to Connection.write.
DESTINATION_CHUNK_ROWS = 50_000

# Incremental flows.
LAG = 300.0
