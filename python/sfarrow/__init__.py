"""sfarrow: move data between Salesforce and Arrow, pandas and polars, fast.

The Rust core (``sfarrow._sfarrow``) does the work; this package is its typed Python face.
``sfarrow.testing`` holds a local Salesforce org emulator for offline tests.
"""

from sfarrow import exceptions
from sfarrow._sfarrow import __version__
from sfarrow.connection import Connection
from sfarrow.exceptions import (
    ApiError,
    ApiLimitError,
    AuthenticationError,
    ConfigurationError,
    ProtocolError,
    SalesforceError,
    TransportError,
    WriteError,
)

__all__ = [
    "__version__",
    "Connection",
    "exceptions",
    "SalesforceError",
    "AuthenticationError",
    "ApiLimitError",
    "ApiError",
    "TransportError",
    "ConfigurationError",
    "ProtocolError",
    "WriteError",
]
