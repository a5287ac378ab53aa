"""sfarrow: move data between Salesforce and Arrow, pandas and polars, fast.

The Rust core (``sfarrow._sfarrow``) does the work; this package is its typed Python face.
``sfarrow.testing`` holds a local Salesforce org emulator for offline tests.
"""

from sfarrow import exceptions
from sfarrow._sfarrow import __version__
from sfarrow.connection import Connection
from sfarrow.destinations import (
    ArrowDestination,
    CsvDestination,
    DatabaseDestination,
    Delivered,
    DeltaDestination,
    Destination,
    DuckDBDestination,
    JsonLinesDestination,
    ParquetDestination,
    Run,
    SalesforceDestination,
    StatefulDestination,
)
from sfarrow.exceptions import (
    ApiError,
    ApiLimitError,
    AuthenticationError,
    ConfigurationError,
    DestinationError,
    ProtocolError,
    ReplayIdError,
    SalesforceError,
    TransportError,
    WriteError,
)
from sfarrow.flow import Flow, FlowRun
from sfarrow.sources import ArrowSource, DatabaseSource, DeltaSource, FileSource, Opened, SalesforceSource, Source
from sfarrow.sync import ChangeEventSource, OnDemand, OnEvents, PlatformEventSource, Schedule

__all__ = [
    "__version__",
    "Connection",
    "Flow",
    "FlowRun",
    "SalesforceSource",
    "FileSource",
    "ArrowSource",
    "DeltaSource",
    "DatabaseSource",
    "Source",
    "Opened",
    "ChangeEventSource",
    "PlatformEventSource",
    "OnDemand",
    "Schedule",
    "OnEvents",
    "ParquetDestination",
    "CsvDestination",
    "JsonLinesDestination",
    "ArrowDestination",
    "SalesforceDestination",
    "DeltaDestination",
    "DatabaseDestination",
    "DuckDBDestination",
    "Destination",
    "StatefulDestination",
    "Run",
    "Delivered",
    "exceptions",
    "SalesforceError",
    "AuthenticationError",
    "ApiLimitError",
    "ApiError",
    "TransportError",
    "ConfigurationError",
    "ProtocolError",
    "ReplayIdError",
    "WriteError",
    "DestinationError",
]
