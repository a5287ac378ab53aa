"""Events over the Pub/Sub API: :meth:`Events.subscribe` and :meth:`Events.publish`, mixed
into :class:`sfarrow.Connection`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Optional, Union

from sfarrow import _defaults as D
from sfarrow import _sfarrow
from sfarrow._arrow import to_arrow
from sfarrow.exceptions import ConfigurationError

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["Events"]


def _replay(replay: Union[str, bytes, bytearray, memoryview]) -> tuple[str, Optional[bytes]]:
    if isinstance(replay, (bytes, bytearray, memoryview)):
        return "custom", bytes(replay)
    if replay in ("latest", "earliest"):
        return replay, None
    if isinstance(replay, str):
        try:
            return "custom", bytes.fromhex(replay)
        except ValueError:
            pass
    raise ConfigurationError(f'replay is "latest", "earliest", or a replay id (bytes, or their hex text), not {replay!r}')


def _subscription(
    topic: str, replay: Union[str, bytes], batch_size: int, on_invalid_replay: str, max_events: Optional[int], idle_timeout: Optional[float]
) -> tuple[str, str, Optional[bytes], int, str, Optional[int], Optional[float]]:
    """The arguments of ``subscribe`` in the compiled module's order, the replay id as bytes."""
    kind, replay_id = _replay(replay)
    # The values themselves are checked by the client crate, once (ConfigurationError).
    return (topic, kind, replay_id, batch_size, on_invalid_replay, max_events, idle_timeout)


class Events:
    """Change data capture and platform events as Arrow (see the README's "Events")."""

    _raw: _sfarrow.Connection

    @property
    def pubsub_url(self) -> str:
        """The Pub/Sub API endpoint this connection uses."""
        return self._raw.pubsub_url

    def subscribe(
        self,
        topic: str,
        *,
        replay: Union[str, bytes] = D.EVENT_REPLAY,
        batch_size: int = D.EVENT_BATCH_SIZE,
        on_invalid_replay: D.OnInvalidReplay = D.ON_INVALID_REPLAY,
        max_events: Optional[int] = None,
        idle_timeout: Optional[float] = None,
    ) -> _sfarrow.EventStream:
        """Subscribes to a topic: ``/data/AccountChangeEvent`` (one object's change events),
        ``/data/ChangeEvents`` (every selected object's) or ``/event/Order__e`` (a platform
        event). Returns a stream of ``pyarrow.RecordBatch``, one row per event, to iterate with
        ``for`` or ``async for``; use it as a context manager (``with`` or ``async with``) to
        close it. ``stream.close()`` ends it at once, from any thread or coroutine: a wait for
        the next batch in progress ends as the stream does.

        ``replay`` is ``"latest"`` (events from now on), ``"earliest"`` (every retained
        event, up to 72 hours back) or a replay id saved from :attr:`EventStream.replay_id`:
        the stream resumes right after it. Save ``stream.replay_id`` after each batch you have
        processed; it also advances on an idle stream's keepalives. A dropped stream reconnects
        from there by itself. An unusable replay id (malformed, or older than the retention)
        raises :class:`ReplayIdError`, unless ``on_invalid_replay="earliest"``: then the stream
        starts from the earliest event and ``stream.fell_back`` is True.

        It returns once the subscription is live, so with ``"latest"`` a write made after it
        returns is delivered. :meth:`subscribe_async` waits for that without holding up the
        event loop.

        ``batch_size`` (1-100) caps the events requested at once and so a batch's rows;
        ``max_events`` ends the stream after that many events; ``idle_timeout`` (seconds) ends
        it when no event arrives for that long.

        Change events have the header as columns (``change_type``, ``entity``,
        ``record_ids``, ``changed_fields``, ``nulled_fields``, ``diff_fields``,
        ``commit_timestamp``, ``commit_user``, ``transaction_key``, ``sequence_number``, ...)
        and then the record's fields, typed as :meth:`query` types them. A batch holds events of
        one schema: ``/data/ChangeEvents`` gives a batch per object.
        """
        args = _subscription(topic, replay, batch_size, on_invalid_replay, max_events, idle_timeout)
        stream: _sfarrow.EventStream = self._raw.subscribe(*args, False)
        return stream

    async def subscribe_async(
        self,
        topic: str,
        *,
        replay: Union[str, bytes] = D.EVENT_REPLAY,
        batch_size: int = D.EVENT_BATCH_SIZE,
        on_invalid_replay: D.OnInvalidReplay = D.ON_INVALID_REPLAY,
        max_events: Optional[int] = None,
        idle_timeout: Optional[float] = None,
    ) -> _sfarrow.EventStream:
        """The awaitable twin of :meth:`subscribe`: ``stream = await conn.subscribe_async(...)``
        waits for the subscription to be live with the event loop free, then gives the same
        stream, for ``async for`` and ``async with``."""
        args = _subscription(topic, replay, batch_size, on_invalid_replay, max_events, idle_timeout)
        stream: _sfarrow.EventStream = await self._raw.subscribe(*args, True)
        return stream

    def publish(self, topic: str, data: Any) -> pa.Table:
        """Publishes platform events to ``/event/Name__e``: one per row of ``data`` (Arrow,
        pandas, polars, or a list of dicts), columns named as the event's fields.
        ``CreatedDate`` and ``CreatedById`` are filled in when absent. Returns one result row
        per input row: ``replay_id``, ``success``, ``error`` and ``correlation_key`` (the id
        subscribers see as ``event_id``)."""
        import pyarrow as pa

        return pa.Table.from_batches([self._raw.publish(topic, to_arrow(data, "publish"), False)])

    async def publish_async(self, topic: str, data: Any) -> pa.Table:
        """The awaitable twin of :meth:`publish`."""
        import pyarrow as pa

        return pa.Table.from_batches([await self._raw.publish(topic, to_arrow(data, "publish"), True)])
