"""The exceptions sfarrow raises. Every one is a :class:`SalesforceError`, with Salesforce's
``error_code``, the HTTP ``status`` and the ``fields`` involved where Salesforce gave them.
Messages never contain tokens, secrets or keys."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Optional

__all__ = [
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


class SalesforceError(Exception):
    """Base class of every sfarrow error.

    An error that stopped a write part way carries the write's result table on ``result`` (one
    row per input row: which were written, which failed, which were never sent); otherwise
    ``result`` is None."""

    result: Any

    def __init__(
        self,
        message: str,
        *,
        error_code: Optional[str] = None,
        status: Optional[int] = None,
        fields: Sequence[str] = (),
    ) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.status = status
        self.fields = list(fields)
        self.result = None


class AuthenticationError(SalesforceError):
    """A grant was refused (``invalid_grant``, ``invalid_client_id`` ...) or a session expired
    and could not be renewed."""


class ApiLimitError(SalesforceError):
    """The org's daily API allowance is spent (``REQUEST_LIMIT_EXCEEDED``)."""


class ApiError(SalesforceError):
    """Salesforce refused a request: ``error_code`` says why (``MALFORMED_QUERY``, ``NOT_FOUND``...)."""


class TransportError(SalesforceError, ConnectionError):
    """The network failed: unreachable host, TLS, reset, timeout or a truncated answer."""


class ConfigurationError(SalesforceError, ValueError):
    """An argument cannot work: a bad URL, key, version or option."""


class ProtocolError(SalesforceError):
    """The server answered in a shape Salesforce does not use."""


class ReplayIdError(SalesforceError):
    """A subscription's replay id cannot be resumed from: it is malformed, from another org, or
    older than the event bus keeps (72 hours). Subscribe from ``"earliest"`` (and resync from a
    query), or pass ``on_invalid_replay="earliest"``."""


class DestinationError(SalesforceError):
    """A flow's destination refused the run: its database or table store answered with an
    error (a column of another type, a constraint, a lost connection). ``error_code`` names the
    store (``postgresql``, ``sqlite``, ``duckdb``, ``snowflake``, ``delta``); the run was rolled
    back, so the table and the flow's watermark are as the last good run left them."""


class WriteError(SalesforceError):
    """Some rows of a write failed (``on_error="raise"``, ``error_code`` ``WRITE_FAILED``), or
    the input failed part way (``INPUT_FAILED``). ``result`` is the per-row result table, one
    row per input row; ``failed`` holds just the failed rows."""

    def __init__(self, message: str, *, result: Any, error_code: str = "WRITE_FAILED") -> None:
        super().__init__(message, error_code=error_code)
        self.result = result

    @property
    def failed(self) -> Any:
        import pyarrow.compute as pc

        return self.result.filter(pc.invert(self.result["success"]))
