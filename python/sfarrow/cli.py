"""The ``sfarrow`` command: run a flow file, export a query, log in, serve an emulated org.

sfarrow run flow.toml
sfarrow serve accounts.toml contacts.toml   (each by its [trigger], until SIGINT or SIGTERM)
sfarrow status flow.toml
sfarrow query "SELECT Id, Name FROM Account" -o accounts.parquet
sfarrow login --client-id 3MVG... --token-cache ~/.sfarrow/token.json
sfarrow emulator --seed Account=100000
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Optional

from sfarrow.connection import Connection
from sfarrow.exceptions import ConfigurationError, SalesforceError

DEFAULT_TOKEN_CACHE = Path.home() / ".sfarrow" / "token.json"


def _load_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on Python < 3.11 only
        import tomli as tomllib
    try:
        with open(path, "rb") as f:
            loaded: dict[str, Any] = tomllib.load(f)
            return loaded
    except FileNotFoundError:
        raise ConfigurationError(f"no flow file at {path}") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigurationError(f"{path} is not valid TOML: {e}") from None


@contextlib.contextmanager
def connect(spec: Mapping[str, Any], base: Path) -> Iterator[Connection]:
    """A connection from a ``[connection]`` table: ``emulator`` (a seeded org for the run),
    ``instance_url`` with ``access_token`` or ``access_token_env``, ``token_cache`` with
    ``client_id`` (after ``sfarrow login``), or ``jwt`` (client_id, username, private_key_file)."""
    options = {k: spec[k] for k in ("api_version", "ca_file", "pubsub_url") if k in spec}
    if "emulator" in spec:
        from sfarrow.testing import Org

        emu = spec["emulator"] if isinstance(spec["emulator"], Mapping) else {}
        with Org(seed=dict(emu.get("seed", {})), https=False) as org:
            if emu.get("change_events"):
                org.select_change_events(list(emu["change_events"]))
            options.setdefault("pubsub_url", org.pubsub_plain_url or "")
            yield Connection(org.url, org.access_token, **options)
        return
    if "jwt" in spec:
        j = spec["jwt"]
        key = (base / j["private_key_file"]).read_bytes()
        yield Connection.jwt(j["client_id"], j["username"], key, environment=j.get("environment", "production"), **options)
        return
    if "token_cache" in spec:
        yield Connection.authorization_code(
            spec["client_id"],
            environment=spec.get("environment", "production"),
            token_cache=str(Path(spec["token_cache"]).expanduser()),
            open_browser=False,
            **options,
        )
        return
    if "instance_url" in spec:
        token = spec.get("access_token") or os.environ.get(spec.get("access_token_env", "SF_ACCESS_TOKEN"), "")
        if not token:
            raise ConfigurationError("the connection needs access_token, or access_token_env naming a set variable")
        yield Connection(spec["instance_url"], token, **options)
        return
    raise ConfigurationError("[connection] needs one of: emulator, instance_url, token_cache, jwt")


def build_flow(config: Mapping[str, Any], connections: Mapping[str, Connection], base: Path) -> Any:
    """A Flow from a parsed flow file; ``connections`` by name (``source``, ``destination``)."""
    from sfarrow import destinations as d
    from sfarrow import sources as s
    from sfarrow.flow import Flow
    from sfarrow.sync import ChangeEventSource, PlatformEventSource

    src = dict(config.get("source", {}))
    dst = dict(config.get("destination", {}))
    kind = _kind(src, "source", "salesforce")
    src.pop("connection", None)
    trigger, events = _trigger(dict(config.get("trigger", {})))
    try:
        if events is not None:
            if kind != "salesforce":
                raise ConfigurationError(f"[trigger] events = {events!r} applies an object's change events: the source is a Salesforce object")
            source: Any = ChangeEventSource(_connection(connections, "source"), _need(src, "object", "source"), **src)
            if source.topic != events:
                raise ConfigurationError(f"[trigger] events = {events!r}, but the source's object {source.object} publishes on {source.topic}")
        elif kind == "salesforce":
            source = s.SalesforceSource(_connection(connections, "source"), _need(src, "object", "source"), **src)
        elif kind == "platform_events":
            source = PlatformEventSource(_connection(connections, "source"), _need(src, "topic", "source"), **src)
        elif kind in ("parquet", "csv"):
            source = s.FileSource(base / _need(src, "path", "source"), format=kind)
        elif kind == "delta":
            source = s.DeltaSource(_local(base, _need(src, "uri", "source")), **src)
        elif kind in ("database", "duckdb"):
            uri = _need(src, "uri", "source") if kind == "database" else f"duckdb:///{_local(base, _need(src, 'path', 'source'))}"
            source = s.DatabaseSource(uri, _need(src, "query", "source"), **src)
        else:
            raise ConfigurationError(f"unknown source kind {kind!r}: salesforce, platform_events, parquet, csv, delta, database or duckdb")
        kind = _kind(dst, "destination", "parquet")
        dst.pop("connection", None)
        files = {"parquet": d.ParquetDestination, "csv": d.CsvDestination, "jsonl": d.JsonLinesDestination}
        if kind in files:
            destination: Any = files[kind](base / _need(dst, "path", "destination"), **dst)
        elif kind == "salesforce":
            destination = d.SalesforceDestination(_connection(connections, "destination"), _need(dst, "object", "destination"), **dst)
        elif kind == "delta":
            destination = d.DeltaDestination(_local(base, _need(dst, "uri", "destination")), **dst)
        elif kind == "database":
            destination = d.DatabaseDestination(_need(dst, "uri", "destination"), _need(dst, "table", "destination"), **dst)
        elif kind == "duckdb":
            destination = d.DuckDBDestination(_local(base, _need(dst, "path", "destination")), _need(dst, "table", "destination"), **dst)
        else:
            raise ConfigurationError(f"unknown destination kind {kind!r}: parquet, csv, jsonl, salesforce, delta, database or duckdb")
    except TypeError as e:
        # An unknown key in [source] or [destination] arrives as an unexpected keyword.
        raise ConfigurationError(f"the flow file has an unknown setting: {e}") from None
    flow = dict(config.get("flow", {}))
    state = flow.get("state")
    if state and not isinstance(destination, d.StatefulDestination):
        state = base / state  # a file beside the flow file; a stateful destination takes a name
    return Flow(
        source,
        destination,
        mapping=config.get("mapping"),
        state=state or None,
        progress=flow.get("progress", True),
        trigger=trigger,
    )


def _trigger(spec: dict[str, Any]) -> tuple[Any, Optional[str]]:
    """The ``[trigger]`` table: ``schedule = "rate(1 hour)"`` or ``cron = "0 * * * *"`` (with
    ``timezone``, ``start``, ``end``), or ``events = "/event/Export__e"`` (a run per event) or
    ``"/data/AccountChangeEvent"`` (the object's change events applied as they come). Returns
    the trigger and, for change events, their topic."""
    from sfarrow.sync import OnEvents, Schedule

    kinds = [k for k in ("schedule", "cron", "events") if k in spec]
    if len(kinds) > 1:
        raise ConfigurationError(f"[trigger] takes one of schedule, cron or events, not {' and '.join(kinds)}")
    if not kinds:
        if spec:
            raise ConfigurationError(f"[trigger] needs schedule, cron or events; it has {sorted(spec)}")
        return None, None
    if kinds[0] == "events":
        topic = str(spec.pop("events"))
        if spec:
            raise ConfigurationError(f"[trigger] events takes no other setting, got {sorted(spec)}")
        return (None, topic) if topic.startswith("/data/") else (OnEvents(topic), None)
    expression = str(spec.pop(kinds[0]))
    options = {k: spec.pop(k) for k in ("timezone", "start", "end") if k in spec}
    if spec:
        raise ConfigurationError(f"[trigger] has unknown settings {sorted(spec)}: schedule or cron, timezone, start, end")
    return Schedule(expression, **options), None


def _kind(table: dict[str, Any], where: str, default: str) -> str:
    """``kind = "delta"`` (``type`` is its older spelling)."""
    kind, old = table.pop("kind", None), table.pop("type", None)
    if kind is not None and old is not None and kind != old:
        raise ConfigurationError(f"[{where}] has kind = {kind!r} and type = {old!r}: keep one")
    return str(kind or old or default)


def _local(base: Path, uri: str) -> str:
    """A relative path is relative to the flow file; URLs stay as they are."""
    return uri if "://" in uri else str(base / uri)


def _need(table: dict[str, Any], key: str, where: str) -> Any:
    if key not in table:
        raise ConfigurationError(f"[{where}] needs {key!r}")
    return table.pop(key)


def _connection(connections: Mapping[str, Connection], side: str) -> Connection:
    if side not in connections:
        raise ConfigurationError(f"the {side} is a Salesforce object: add a [connection] table, or {side}.connection")
    return connections[side]


def _open_flow(path: Path, stack: contextlib.ExitStack) -> Any:
    """The flow a file describes, its connections opened on ``stack``."""
    config = _load_toml(path)
    base = path.parent
    shared = config.get("connection")
    connections: dict[str, Connection] = {}
    for side in ("source", "destination"):
        spec = config.get(side, {}).get("connection", shared)
        if spec is None:
            continue
        same = spec is shared and "shared" in connections
        connections[side] = connections["shared"] if same else stack.enter_context(connect(spec, base))
        if spec is shared:
            connections["shared"] = connections[side]
    return build_flow(config, connections, base)


def _run(args: argparse.Namespace) -> int:
    with contextlib.ExitStack() as stack:
        flow = _open_flow(Path(args.flow), stack)
        for _ in range(args.times):
            run = flow.run()
            window = f" changed since {run.since}" if run.since else ""
            print(
                f"read {run.records_read:,} records{window} via {run.api}, wrote {run.records_written:,}, failed {run.records_failed:,} in {run.seconds:.2f} s"
            )
            for p in run.paths:
                print(f"  {p}")
            if run.failed_records_path:
                print(f"  failed records: {run.failed_records_path}")
            if run.watermark:
                print(f"  watermark: {run.watermark}")
    return 0


def _serve(args: argparse.Namespace) -> int:
    """Every flow on a thread of its own, until a signal: the first lets each finish its run."""
    import logging
    import threading

    from sfarrow.sync.serve import serve, stopped_by_signals

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    stop = threading.Event()
    errors: list[BaseException] = []
    with contextlib.ExitStack() as stack:
        flows = [_open_flow(Path(p), stack) for p in args.flows]

        def serve_one(flow: Any) -> None:
            try:
                serve(flow, None, stop, signals=False)
            except BaseException as e:
                errors.append(e)
                stop.set()  # one flow failing stops the others: the process exits with its error

        threads = [threading.Thread(target=serve_one, args=(f,), name=f"sfarrow {f!r}", daemon=True) for f in flows]
        with stopped_by_signals(stop):
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                for t in threads:
                    t.join(timeout=0.2)
    if errors:
        raise errors[0]
    return 0


def _status(args: argparse.Namespace) -> int:
    import json

    with contextlib.ExitStack() as stack:
        print(json.dumps(_open_flow(Path(args.flow), stack).status(), indent=2))
    return 0


def _query(args: argparse.Namespace) -> int:
    from sfarrow.destinations import CsvDestination, JsonLinesDestination, ParquetDestination

    spec: dict[str, Any] = {"instance_url": args.instance_url, "access_token_env": args.access_token_env}
    if args.token_cache:
        spec = {"token_cache": args.token_cache, "client_id": args.client_id, "environment": args.environment}
    if args.ca_file:
        spec["ca_file"] = args.ca_file
    out = Path(args.output)
    formats = {".parquet": ParquetDestination, ".csv": CsvDestination, ".jsonl": JsonLinesDestination}
    if out.suffix not in formats:
        raise ConfigurationError(f"-o must end in .parquet, .csv or .jsonl, got {out.name}")
    with connect(spec, Path.cwd()) as conn:
        reader = conn.query_batches(args.soql, api=args.api)
        writer = formats[out.suffix](out.parent).open_file(out, reader.schema)
        rows = 0
        try:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
        finally:
            writer.close()
    print(f"wrote {rows:,} records to {out}")
    return 0


def _login(args: argparse.Namespace) -> int:
    cache = Path(args.token_cache).expanduser()
    conn = Connection.authorization_code(args.client_id, environment=args.environment, token_cache=str(cache), port=args.port, open_browser=not args.no_browser)
    print(f"logged in to {conn.instance_url}; the refresh token is in {cache} (mode 0600)")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="sfarrow", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run a flow file (TOML)")
    run.add_argument("flow")
    run.add_argument("--times", type=int, default=1, help="run it this many times (an incremental flow picks up changes)")
    serve = sub.add_parser("serve", help="serve flow files by their [trigger] until SIGINT or SIGTERM")
    serve.add_argument("flows", nargs="+")
    status = sub.add_parser("status", help="a flow's last commit: watermark, replay id, how far behind")
    status.add_argument("flow")
    query = sub.add_parser("query", help="export a SOQL query to a Parquet, CSV or JSON Lines file")
    query.add_argument("soql")
    query.add_argument("-o", "--output", required=True)
    query.add_argument("--api", default="auto", choices=["auto", "rest", "bulk"])
    query.add_argument("--instance-url", default=os.environ.get("SF_INSTANCE_URL"))
    query.add_argument("--access-token-env", default="SF_ACCESS_TOKEN", help="variable holding the session id")
    query.add_argument("--token-cache", help="use the token cache written by sfarrow login")
    query.add_argument("--client-id")
    query.add_argument("--environment", default="production")
    query.add_argument("--ca-file")
    login = sub.add_parser("login", help="log in through the browser (authorization code) and fill the token cache")
    login.add_argument("--client-id", required=True)
    login.add_argument("--environment", default="production", help="production, sandbox or a My Domain URL")
    login.add_argument("--token-cache", default=str(DEFAULT_TOKEN_CACHE))
    login.add_argument("--port", type=int, default=1717)
    login.add_argument("--no-browser", action="store_true", help="print the URL instead of opening a browser")
    sub.add_parser("emulator", help="serve an emulated org (see: sfarrow emulator --help)", add_help=False)
    args, rest = parser.parse_known_args(argv)
    if args.command == "emulator":
        from sfarrow.testing.__main__ import main as emulate

        return emulate(["serve", *rest])
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    if args.command == "query" and not (args.instance_url or args.token_cache):
        parser.error("query needs --instance-url (or SF_INSTANCE_URL) or --token-cache")
    try:
        return {"run": _run, "serve": _serve, "status": _status, "query": _query, "login": _login}[args.command](args)
    except (SalesforceError, OSError) as e:
        print(f"sfarrow: {type(e).__name__}: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as e:
        print(f"sfarrow: {e or 'interrupted'}", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
