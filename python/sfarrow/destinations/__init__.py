"""Where a :class:`~sfarrow.Flow` writes to.

- files (Parquet, CSV, JSON Lines) on local disk or S3: :mod:`.files`;
- in memory, or a Salesforce object: :mod:`.salesforce`;
- tables that apply changes (merge by key, deletions included) and keep the flow's watermark
  in the same commit: Delta Lake (:mod:`.delta`), PostgreSQL, SQLite and Snowflake through
  ADBC, and DuckDB (:mod:`.database`).

A destination of your own is any object with ``deliver(schema, batches, run)``
(:class:`Destination`); adding ``load_state(flow)`` makes it keep the flow's watermark itself
(:class:`StatefulDestination`); adding ``apply(changes, run)`` and ``present(keys)`` lets a
:class:`~sfarrow.ChangeEventSource` apply change events to it (:class:`ChangeDestination`).
"""

from sfarrow.destinations._base import ChangeDestination, Changes, Delivered, Destination, Run, StatefulDestination
from sfarrow.destinations.database import DatabaseDestination, DuckDBDestination
from sfarrow.destinations.delta import DeltaDestination
from sfarrow.destinations.files import STAGING_PREFIX, CsvDestination, FileDestination, JsonLinesDestination, ParquetDestination
from sfarrow.destinations.salesforce import ArrowDestination, SalesforceDestination

__all__ = [
    "Delivered",
    "Destination",
    "Run",
    "StatefulDestination",
    "ChangeDestination",
    "Changes",
    "STAGING_PREFIX",
    "FileDestination",
    "ParquetDestination",
    "CsvDestination",
    "JsonLinesDestination",
    "ArrowDestination",
    "SalesforceDestination",
    "DeltaDestination",
    "DatabaseDestination",
    "DuckDBDestination",
]
