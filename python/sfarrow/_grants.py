"""The grant constructors of ``Connection``: one classmethod per OAuth grant, each with its
awaitable twin. They only gather arguments; the Rust client builds and runs the grant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Optional, TypeVar, Union

from sfarrow import _defaults as D
from sfarrow import _sfarrow
from sfarrow._login import PathLike, _authorization_code, _client_credentials, _device, _jwt, _refresh_token

#: (access_token, refresh_token or None, instance_url), handed to ``on_token`` on every new token.
TokenInfo = tuple[str, Optional[str], str]

_C = TypeVar("_C", bound="Grants")


class Grants:
    """What ``Connection`` is made with (it inherits these classmethods)."""

    _raw: _sfarrow.Connection

    @classmethod
    def _wrap(cls: type[_C], raw: _sfarrow.Connection) -> _C:
        self = cls.__new__(cls)
        self._raw = raw
        return self

    @classmethod
    def _connect(cls: type[_C], args: dict[str, Any]) -> _C:
        return cls._wrap(_sfarrow.Connection.connect(args, False))

    @classmethod
    async def _connect_async(cls: type[_C], args: dict[str, Any]) -> _C:
        return cls._wrap(await _sfarrow.Connection.connect(args, True))

    # -- grants -----------------------------------------------------------------------------
    # Each grant's sync and async constructors take the same arguments (a test holds them to
    # it); the common options (api_version, ca_file, request_timeout, retries, gzip,
    # api_budget) arrive in **options with the constructor's defaults.
    @classmethod
    def jwt(
        cls: type[_C],
        client_id: str,
        username: str,
        private_key: Union[str, bytes, PathLike],
        *,
        environment: str = D.ENVIRONMENT,
        audience: Optional[str] = None,
        assertion_lifetime: float = D.JWT_ASSERTION_LIFETIME,
        on_token: Optional[Callable[[TokenInfo], None]] = None,
        **options: Any,
    ) -> _C:
        """JWT bearer (server to server): an RS256 assertion signed with ``private_key`` (PEM
        text or a file), whose certificate is uploaded to the connected app. ``audience``
        defaults to login/test.salesforce.com per ``environment``; the assertion expires
        ``assertion_lifetime`` seconds after it is made (Salesforce asks for at most 180)."""
        return cls._connect(_jwt(client_id, username, private_key, environment, audience, assertion_lifetime, on_token, options))

    @classmethod
    async def jwt_async(
        cls: type[_C],
        client_id: str,
        username: str,
        private_key: Union[str, bytes, PathLike],
        *,
        environment: str = D.ENVIRONMENT,
        audience: Optional[str] = None,
        assertion_lifetime: float = D.JWT_ASSERTION_LIFETIME,
        on_token: Optional[Callable[[TokenInfo], None]] = None,
        **options: Any,
    ) -> _C:
        return await cls._connect_async(_jwt(client_id, username, private_key, environment, audience, assertion_lifetime, on_token, options))

    @classmethod
    def refresh_token(
        cls: type[_C],
        client_id: str,
        refresh_token: str,
        *,
        client_secret: Optional[str] = None,
        environment: str = D.ENVIRONMENT,
        on_token: Optional[Callable[[TokenInfo], None]] = None,
        **options: Any,
    ) -> _C:
        """Refresh token grant. ``on_token`` gets every new token, so a rotated refresh token
        can be stored."""
        return cls._connect(_refresh_token(client_id, refresh_token, client_secret, environment, on_token, options))

    @classmethod
    async def refresh_token_async(
        cls: type[_C],
        client_id: str,
        refresh_token: str,
        *,
        client_secret: Optional[str] = None,
        environment: str = D.ENVIRONMENT,
        on_token: Optional[Callable[[TokenInfo], None]] = None,
        **options: Any,
    ) -> _C:
        return await cls._connect_async(_refresh_token(client_id, refresh_token, client_secret, environment, on_token, options))

    @classmethod
    def client_credentials(
        cls: type[_C], client_id: str, client_secret: str, *, environment: str, on_token: Optional[Callable[[TokenInfo], None]] = None, **options: Any
    ) -> _C:
        """Client credentials, for the app's "run as" user. ``environment`` must be the My
        Domain URL: Salesforce refuses this grant on login/test."""
        return cls._connect(_client_credentials(client_id, client_secret, environment, on_token, options))

    @classmethod
    async def client_credentials_async(
        cls: type[_C], client_id: str, client_secret: str, *, environment: str, on_token: Optional[Callable[[TokenInfo], None]] = None, **options: Any
    ) -> _C:
        return await cls._connect_async(_client_credentials(client_id, client_secret, environment, on_token, options))

    @classmethod
    def authorization_code(
        cls: type[_C],
        client_id: str,
        *,
        client_secret: Optional[str] = None,
        environment: str = D.ENVIRONMENT,
        port: int = D.OAUTH_PORT,
        scope: str = D.OAUTH_SCOPE,
        open_browser: Union[bool, Callable[[str], None]] = True,
        token_cache: Optional[PathLike] = None,
        on_token: Optional[Callable[[TokenInfo], None]] = None,
        timeout: float = D.AUTHORIZATION_TIMEOUT,
        **options: Any,
    ) -> _C:
        """Authorization code with PKCE: the user logs in in a browser; the redirect comes back
        to ``http://localhost:{port}/OauthRedirect`` (register it on the connected app).

        ``open_browser``: True opens the system browser (the URL is also printed), False only
        prints it, or a callable gets the URL. ``token_cache``: a file (written 0600) that
        keeps the refresh token, so the next call needs no browser.
        """
        return cls._connect(_authorization_code(client_id, client_secret, environment, port, scope, open_browser, token_cache, on_token, timeout, options))

    @classmethod
    async def authorization_code_async(
        cls: type[_C],
        client_id: str,
        *,
        client_secret: Optional[str] = None,
        environment: str = D.ENVIRONMENT,
        port: int = D.OAUTH_PORT,
        scope: str = D.OAUTH_SCOPE,
        open_browser: Union[bool, Callable[[str], None]] = True,
        token_cache: Optional[PathLike] = None,
        on_token: Optional[Callable[[TokenInfo], None]] = None,
        timeout: float = D.AUTHORIZATION_TIMEOUT,
        **options: Any,
    ) -> _C:
        return await cls._connect_async(
            _authorization_code(client_id, client_secret, environment, port, scope, open_browser, token_cache, on_token, timeout, options)
        )

    @classmethod
    def device(
        cls: type[_C],
        client_id: str,
        *,
        environment: str = D.ENVIRONMENT,
        scope: str = D.OAUTH_SCOPE,
        prompt: Optional[Callable[[tuple[str, str]], None]] = None,
        token_cache: Optional[PathLike] = None,
        on_token: Optional[Callable[[TokenInfo], None]] = None,
        timeout: float = D.DEVICE_TIMEOUT,
        **options: Any,
    ) -> _C:
        """Device flow, for headless notebooks: prints a code and a URL to visit on any device
        (or hands ``(user_code, verification_uri)`` to ``prompt``), then waits for approval."""
        return cls._connect(_device(client_id, environment, scope, prompt, token_cache, on_token, timeout, options))

    @classmethod
    async def device_async(
        cls: type[_C],
        client_id: str,
        *,
        environment: str = D.ENVIRONMENT,
        scope: str = D.OAUTH_SCOPE,
        prompt: Optional[Callable[[tuple[str, str]], None]] = None,
        token_cache: Optional[PathLike] = None,
        on_token: Optional[Callable[[TokenInfo], None]] = None,
        timeout: float = D.DEVICE_TIMEOUT,
        **options: Any,
    ) -> _C:
        return await cls._connect_async(_device(client_id, environment, scope, prompt, token_cache, on_token, timeout, options))
