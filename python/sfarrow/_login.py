"""How a ``Connection`` is asked for: the key, CA and browser helpers, and the one dict of
arguments the compiled ``connect`` takes for each grant."""

from __future__ import annotations

import os
import sys
import webbrowser
from collections.abc import Callable
from typing import Any, Optional, Union

from sfarrow import _defaults as D

PathLike = Union[str, "os.PathLike[str]"]


def _read_key(private_key: Union[str, bytes, PathLike]) -> str:
    """A PEM string, PEM bytes, or the path of a PEM file."""
    from sfarrow.exceptions import ConfigurationError

    not_pem = "private_key is not PEM: PEM is ASCII text between -----BEGIN ...----- and -----END ...----- lines"
    if isinstance(private_key, bytes):
        try:
            return private_key.decode("ascii")
        except UnicodeDecodeError:
            raise ConfigurationError(not_pem) from None
    if not isinstance(private_key, (str, os.PathLike)):
        raise ConfigurationError(f"private_key must be PEM text, PEM bytes or a path, got {type(private_key).__name__}")
    text = os.fspath(private_key)
    if "-----BEGIN" in text:
        return text
    try:
        with open(text, encoding="ascii") as f:
            return f.read()
    except UnicodeDecodeError:
        raise ConfigurationError(f"{not_pem} (the file {text} is not)") from None
    except OSError as e:
        raise ConfigurationError(f"private_key is neither PEM text nor a readable file: {e.strerror}") from None


def _read_ca(ca_file: Optional[PathLike]) -> Optional[str]:
    if ca_file is None:
        return None
    from sfarrow.exceptions import ConfigurationError

    path = os.fspath(ca_file)
    try:
        with open(path, encoding="ascii") as f:
            return f.read()
    except UnicodeDecodeError:
        raise ConfigurationError(f"ca_file {path} is not PEM (ASCII) text") from None
    except OSError as e:
        raise ConfigurationError(f"ca_file {path} cannot be read: {e.strerror}") from None


def _options(
    api_version: str = D.API_VERSION,
    ca_file: Optional[PathLike] = None,
    request_timeout: float = D.REQUEST_TIMEOUT,
    retries: int = D.RETRIES,
    gzip: bool = D.GZIP,
    api_budget: Optional[float] = None,
    pubsub_url: str = D.PUBSUB_URL,
) -> dict[str, Any]:
    """The options every constructor takes (an unknown one is a TypeError, as Python's own)."""
    return {
        "pubsub_url": pubsub_url,
        "api_version": api_version,
        "ca_pem": _read_ca(ca_file),
        "request_timeout": request_timeout,
        "retries": retries,
        "gzip": gzip,
        "api_budget": api_budget,
    }


def _jwt(
    client_id: str,
    username: str,
    private_key: Union[str, bytes, PathLike],
    environment: str,
    audience: Optional[str],
    assertion_lifetime: float,
    on_token: Any,
    options: dict[str, Any],
) -> dict[str, Any]:
    return _args(
        "jwt",
        environment=environment,
        client_id=client_id,
        username=username,
        private_key=_read_key(private_key),
        audience=audience,
        assertion_lifetime=assertion_lifetime,
        on_token=on_token,
        **_options(**options),
    )


def _print_url(url: str) -> None:
    print(f"Open this URL to authorize sfarrow:\n  {url}", file=sys.stderr, flush=True)


def _open_browser(url: str) -> None:
    _print_url(url)
    try:
        webbrowser.open(url)
    except webbrowser.Error:
        pass


def _print_device_prompt(prompt: tuple[str, str]) -> None:
    code, uri = prompt
    print(f"To connect, visit {uri} and enter the code {code}", file=sys.stderr, flush=True)


def _opener(open_browser: Union[bool, Callable[[str], None]]) -> Callable[[str], None]:
    if callable(open_browser):
        return open_browser
    return _open_browser if open_browser else _print_url


def _session(instance_url: str, access_token: str, options: dict[str, Any]) -> dict[str, Any]:
    """An existing session; ``options`` already made by ``_options``."""
    return _args("session", instance_url=instance_url, access_token=access_token, **options)


def _refresh_token(
    client_id: str, refresh_token: str, client_secret: Optional[str], environment: str, on_token: Any, options: dict[str, Any]
) -> dict[str, Any]:
    return _args(
        "refresh_token",
        environment=environment,
        client_id=client_id,
        client_secret=client_secret,
        refresh_token=refresh_token,
        on_token=on_token,
        **_options(**options),
    )


def _client_credentials(client_id: str, client_secret: str, environment: str, on_token: Any, options: dict[str, Any]) -> dict[str, Any]:
    return _args("client_credentials", environment=environment, client_id=client_id, client_secret=client_secret, on_token=on_token, **_options(**options))


def _authorization_code(
    client_id: str,
    client_secret: Optional[str],
    environment: str,
    port: int,
    scope: str,
    open_browser: Union[bool, Callable[[str], None]],
    token_cache: Optional[PathLike],
    on_token: Any,
    timeout: float,
    options: dict[str, Any],
) -> dict[str, Any]:
    return _args(
        "authorization_code",
        environment=environment,
        client_id=client_id,
        client_secret=client_secret,
        port=port,
        scope=scope,
        open_url=_opener(open_browser),
        token_cache=token_cache,
        on_token=on_token,
        timeout=timeout,
        **_options(**options),
    )


def _device(
    client_id: str,
    environment: str,
    scope: str,
    prompt: Optional[Callable[[tuple[str, str]], None]],
    token_cache: Optional[PathLike],
    on_token: Any,
    timeout: float,
    options: dict[str, Any],
) -> dict[str, Any]:
    return _args(
        "device",
        environment=environment,
        client_id=client_id,
        scope=scope,
        open_url=prompt or _print_device_prompt,
        token_cache=token_cache,
        on_token=on_token,
        timeout=timeout,
        **_options(**options),
    )


def _args(grant: str, **kw: Any) -> dict[str, Any]:
    """Every key the compiled ``connect`` takes. Keys a grant does not use are neutral fillers,
    never defaults: those are in the signatures above (and ``sfarrow._defaults``)."""
    args: dict[str, Any] = {
        "grant": grant,
        "environment": None,
        "instance_url": None,
        "access_token": None,
        "client_id": None,
        "client_secret": None,
        "username": None,
        "private_key": None,
        "audience": None,
        "assertion_lifetime": 0.0,
        "refresh_token": None,
        "port": 0,
        "scope": "",
        "timeout": 0.0,
        "open_url": None,
        "on_token": None,
        "token_cache": None,
    }
    args.update(kw)
    if args["token_cache"] is not None:
        args["token_cache"] = os.fspath(args["token_cache"])
    return args
