"""Reaching the stores that sources and destinations share: database URIs and the ADBC or
DuckDB connections they open (with passwords kept out of every message), and the optional
packages each needs."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from typing import Any, Optional, Union
from urllib.parse import quote, unquote

from sfarrow.exceptions import ConfigurationError, DestinationError

#: URI scheme to (dialect, ADBC driver module, pip extra).
_DRIVERS = {
    "postgresql": ("postgresql", "adbc_driver_postgresql.dbapi", "postgres"),
    "postgres": ("postgresql", "adbc_driver_postgresql.dbapi", "postgres"),
    "sqlite": ("sqlite", "adbc_driver_sqlite.dbapi", "sqlite"),
    "snowflake": ("snowflake", "adbc_driver_snowflake.dbapi", "snowflake"),
    "duckdb": ("duckdb", "duckdb", "duckdb"),
}


def _userinfo(uri: str) -> tuple[str, str, str]:
    """``(scheme://, user-and-password, @host...)`` of a URI, or ``("", "", uri)`` without a
    password. The password ends at the last ``@``: a password may hold ``@``, ``/`` or ``:``
    without percent-encoding, and none of it is taken for the host."""
    head, sep, body = uri.partition("://")
    at = body.rfind("@")
    if not sep or at < 0:
        return "", "", uri
    return head + sep, body[:at], body[at:]


def _password(uri: str) -> str:
    return _userinfo(uri)[1].partition(":")[2]


def redact(text: str, uri: Optional[str] = None) -> str:
    """``text`` (a URI, or a message that may quote one) with passwords hidden: the URI's own,
    any ``password=`` parameter, and, when given, every spelling of ``uri``'s password."""
    head, info, tail = _userinfo(text)
    if info and ":" in info:
        text = head + info.partition(":")[0] + ":***" + tail
    text = re.sub(r"(://[^/:@\s]*:)[^@\s]*@", r"\1***@", text)
    text = re.sub(r"(?i)((?:password|token|private_key[a-z_]*)=)[^&\s]*", r"\1***", text)
    secret = _password(uri) if uri else ""
    for spelling in {secret, unquote(secret), quote(unquote(secret), safe="")} if secret else ():
        if spelling:
            text = text.replace(spelling, "***")
    return text


def _encoded(uri: str) -> str:
    """The URI with its user and password percent-encoded, so that a driver parsing it finds
    the host where the user meant it (a raw ``@`` would send the rest of the password to DNS
    as a host name)."""
    head, info, tail = _userinfo(uri)
    if not info:
        return uri
    user, colon, password = info.partition(":")
    return head + quote(unquote(user), safe="") + colon + quote(unquote(password), safe="") + tail


def connect_args(uri: str) -> tuple[str, str, str, str]:
    """What a URI connects with: ``(dialect, driver module, what the driver is given, extra)``.

    ``postgresql://user:pw@host:port/db`` and ``snowflake://user:pw@account/db/schema?warehouse=wh``
    go to their ADBC drivers as they are; ``sqlite:///path/to.db`` (or ``sqlite:path``) and
    ``duckdb:///path`` give the path."""
    scheme, sep, rest = uri.partition(":")
    if not sep or scheme.lower() not in _DRIVERS:
        raise ConfigurationError(f"cannot tell the database of {redact(uri)!r}: give a postgresql://, sqlite:///, snowflake:// or duckdb:/// URI")
    dialect, module, extra = _DRIVERS[scheme.lower()]
    if dialect in ("sqlite", "duckdb"):
        # As SQLAlchemy spells them: sqlite:///relative.db, sqlite:////absolute/path.db.
        path = rest[3:] if rest.startswith("///") else rest[2:] if rest.startswith("//") else rest
        return dialect, module, path or ":memory:", extra
    return dialect, module, _encoded(uri), extra


def _import(module: str, extra: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigurationError(f"this destination needs {module.split('.')[0]}: pip install 'sfarrow[{extra}]'") from None


#: How long a SQLite statement waits for a lock another connection holds (milliseconds).
SQLITE_BUSY_MS = 30_000


def open_connection(uri: str) -> tuple[str, Any]:
    name, module, target, extra = connect_args(uri)
    driver = _import(module, extra)
    try:
        conn = driver.connect(target)
    except Exception as e:
        raise ConfigurationError(f"cannot connect to {redact(uri)}: {redact(str(e), uri)}") from None
    if name == "sqlite":
        # A reader holding the file (another process, a notebook) makes a commit wait for it,
        # as PostgreSQL would, instead of failing at once with "database is locked".
        with contextlib.closing(conn.cursor()) as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_MS}")
    return name, conn


def open_query(target: Union[str, Any], query: str) -> tuple[Any, Callable[[], None]]:
    """A record batch reader over ``query``'s rows, and what closes it (and the connection,
    when it was opened from a URI)."""
    name, conn = open_connection(target) if isinstance(target, str) else (vendor(target), target)
    owned = isinstance(target, str)
    if name == "duckdb":
        relation = conn.sql(query)
        # duckdb 1.x calls the streaming reader fetch_arrow_reader, 2.x to_arrow_reader.
        reader = relation.to_arrow_reader() if hasattr(relation, "to_arrow_reader") else relation.fetch_arrow_reader()
        cursor = None
    else:
        cursor = conn.cursor()
        cursor.execute(query)
        reader = cursor.fetch_record_batch()

    def close() -> None:
        if cursor is not None:
            cursor.close()
        if owned:
            conn.close()

    return reader, close


def vendor(conn: Any) -> str:
    """The dialect of a connection the user opened."""
    module = type(conn).__module__
    if module.startswith("duckdb") or module.startswith("_duckdb"):
        return "duckdb"
    try:
        vendor = str(conn.adbc_get_info().get("vendor_name", "")).lower()
    except Exception:
        vendor = ""
    for name in ("postgresql", "sqlite", "snowflake", "duckdb"):
        if name in vendor:
            return name
    raise ConfigurationError(f"cannot tell the database of {type(conn).__name__}: pass an ADBC or DuckDB connection, or dialect=")


def deltalake_module() -> Any:
    try:
        import deltalake
    except ImportError:
        raise ConfigurationError("Delta tables need the deltalake package: pip install 'sfarrow[delta]'") from None
    return deltalake


def refused(store: str, where: str, error: BaseException) -> Exception:
    """A store's own error, as the one exception a flow's destination raises for it."""
    message = redact(str(error)).strip() or type(error).__name__
    return DestinationError(f"{store} refused the run into {where}: {message}; nothing of it was committed", error_code=store)
