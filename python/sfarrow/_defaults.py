"""Every default of the public API, in one place: the signatures of ``Connection``, its
sources, destinations and the emulator take their defaults from here, and nothing below
(the compiled module included) has defaults of its own."""

from __future__ import annotations

# Connections.
API_VERSION = "58.0"
REQUEST_TIMEOUT = 300.0
RETRIES = 4
GZIP = True
ENVIRONMENT = "production"
# Salesforce's Pub/Sub API endpoint, the same for every org.
PUBSUB_URL = "api.pubsub.salesforce.com:7443"
JWT_ASSERTION_LIFETIME = 180.0
OAUTH_PORT = 1717
OAUTH_SCOPE = "api refresh_token"
AUTHORIZATION_TIMEOUT = 300.0
DEVICE_TIMEOUT = 600.0

# Reads.
READ_API = "auto"
BULK_THRESHOLD = 1_000_000
BULK_PAGE_SIZE = 25_000
PARALLEL = 4

# Events.
EVENT_REPLAY = "latest"
EVENT_BATCH_SIZE = 100
ON_INVALID_REPLAY = "raise"

# Writes.
WRITE_API = "auto"
ON_ERROR = "raise"
WRITE_BULK_THRESHOLD = 1000
WRITE_PARALLEL = 4

# A Salesforce destination writes this many rows a call to Connection.write.
DESTINATION_CHUNK_ROWS = 50_000

# Incremental flows.
LAG = 300.0
