"""OAuth2 access tokens for IMAP and SMTP: the client-credentials flow (app-only).

A daemon with nobody present signs in as the app registered in Microsoft
Entra ID. `token_provider_for(settings)` gives what the mailbox and the sender
ask for a token and tell when the server refused one:

- `MsalTokenProvider`: msal's ConfidentialClientApplication, tenant pinned,
  in-memory token cache (msal serves a cached token until 5 minutes before
  it expires, then fetches a new one).
- `ClientCredentialsTokenProvider`: a plain client-credentials POST to
  `[oauth2] token_url` (a local endpoint, e.g. in tests), cached alike.

Tokens and secrets live in memory only: never logged, written or shown in a
repr. Errors carry Microsoft's error code and the first line of its
description, which name the app and tenant, never the secret.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from ..config.settings_types import OAuth2Settings, Settings
from ..domain.errors import LoginError, MailboxError
from .connect import TokenProvider

log = logging.getLogger("intake.oauth2")

EARLY_REFRESH_SECONDS = 300  # renew a token this long before it expires (as msal does)
HTTP_TIMEOUT = 30.0

# Microsoft's error codes an administrator meets most, as a sentence to act on.
KNOWN_ERRORS = {
    "AADSTS7000215": "the client secret is wrong or expired",
    "AADSTS7000222": "the client secret has expired: add a new one to the app registration",
    "AADSTS700016": "no app with this client_id in the tenant (or no admin consent yet)",
    "AADSTS90002": "the tenant_id is not a known tenant",
    "AADSTS900023": "the tenant_id is not a valid tenant",
    "AADSTS700027": "the certificate is not the one uploaded to the app registration",
    "AADSTS500011": "the scope names a resource the tenant does not have",
    "AADSTS1002012": "the scope must end in /.default for an app signing in as itself",
    "AADSTS7000112": "the app is disabled in the tenant",
}


class TokenError(LoginError):
    """The identity platform refused the app's credentials or settings
    (wrong or expired secret, unknown tenant or app): retrying will not help."""


class TokenServiceError(MailboxError):
    """The token endpoint could not be reached or gave no usable answer: try later."""


def token_provider_for(settings: Settings) -> TokenProvider | None:
    """The token source the settings ask for; None when nothing uses OAuth2."""
    if "oauth2" not in (settings.mailbox.auth, settings.smtp.auth):
        return None
    oauth2 = settings.oauth2
    if oauth2 is None:  # load_settings reports this; here for callers that built Settings
        raise TokenError('auth = "oauth2" needs an [oauth2] section')
    if oauth2.token_url:
        return ClientCredentialsTokenProvider.from_settings(oauth2)
    return MsalTokenProvider(oauth2)


def describe_error(error: str | None, description: str | None, secret: str = "") -> str:
    """One line from an OAuth2 error answer: a sentence for a known code,
    then Microsoft's code and first line, with the secret cut out if echoed."""
    first = (description or "").strip().splitlines()[0].strip() if description else ""
    code = first.split(":", 1)[0] if first.startswith("AADSTS") else ""
    sentence = KNOWN_ERRORS.get(code, "")
    detail = first or (error or "no reason given")
    if error and first and not code and not first.startswith(error):
        detail = f"{error}: {first}"
    text = f"{sentence} ({detail})" if sentence else detail
    return _scrub(text[:400], secret)


def _scrub(text: str, secret: str) -> str:
    return text.replace(secret, "********") if secret and len(secret) >= 4 else text


class MsalTokenProvider:
    """App-only tokens from Microsoft Entra ID through msal.

    The msal application is built at the first token() (it fetches the
    tenant's OpenID configuration then), reading the secret or the key file
    at that moment. `http_client` goes to msal (tests: a local responder).
    """

    def __init__(self, settings: OAuth2Settings, http_client: object | None = None) -> None:
        self._settings = settings
        self._http_client = http_client
        self._app: Any = None
        self._secret = ""  # only to cut it out of error text, should one echo it
        self._lock = threading.Lock()
        # msal's debug lines describe requests; keep them out of -v output.
        logging.getLogger("msal").setLevel(max(logging.INFO, logging.getLogger("msal").level))

    def __repr__(self) -> str:
        s = self._settings
        return f"MsalTokenProvider(tenant_id={s.tenant_id!r}, client_id={s.client_id!r})"

    @property
    def authority_url(self) -> str:
        return f"{self._settings.authority.rstrip('/')}/{self._settings.tenant_id}"

    def _credential(self) -> str | dict[str, str]:
        s = self._settings
        if s.client_certificate is not None:
            try:
                key = s.client_certificate.read_text(encoding="utf-8")
            except OSError as err:
                raise TokenError(
                    f"OAuth2: cannot read client_certificate {s.client_certificate}: "
                    f"{err.strerror}"
                ) from err
            return {"private_key": key, "thumbprint": s.client_certificate_thumbprint or ""}
        if s.client_secret is None:
            raise TokenError("OAuth2: neither client_secret_env nor client_certificate is set")
        self._secret = s.client_secret.reveal()
        return self._secret

    def _application(self) -> Any:
        if self._app is None:
            import msal  # here: a password-only service never loads it

            kwargs: dict[str, Any] = {"token_cache": msal.TokenCache()}  # memory only
            if self._http_client is not None:
                kwargs["http_client"] = self._http_client
            self._app = self._call(
                lambda: msal.ConfidentialClientApplication(
                    self._settings.client_id,
                    authority=self.authority_url,
                    client_credential=self._credential(),
                    **kwargs,
                )
            )
        return self._app

    def _call(self, action: Callable[[], Any]) -> Any:
        """msal's exceptions become ours: ValueError for a bad authority, tenant
        or key (no retry helps), network errors for the service unreachable."""
        import jwt  # msal's own dependencies
        import requests

        try:
            return action()
        except jwt.PyJWTError as err:  # signing the client assertion with the key
            raise TokenError(f"OAuth2: client_certificate {self._settings.client_certificate}: "
                             f"{_first_line(err)}") from err
        except ValueError as err:  # discovery refused, or a key msal cannot read
            text = _scrub(_first_line(err), self._secret)
            hint = " (check authority and tenant_id)" if "authority" in text.lower() else ""
            raise TokenError(f"OAuth2: {self.authority_url} refused: {text}{hint}") from err
        except (requests.RequestException, OSError) as err:
            raise TokenServiceError(
                f"OAuth2: cannot reach {self._settings.authority}: {type(err).__name__}"
            ) from err

    def token(self) -> str:
        with self._lock:
            app = self._application()
            result = self._call(lambda: app.acquire_token_for_client(scopes=[self._settings.scope]))
        if not isinstance(result, dict) or "access_token" not in result:
            result = result if isinstance(result, dict) else {}
            text = describe_error(result.get("error"), result.get("error_description"),
                                  self._secret)
            if result.get("error") in ("temporarily_unavailable", "server_error"):
                raise TokenServiceError(f"OAuth2 token service: {text}")
            raise TokenError(f"OAuth2 token refused: {text}")
        if result.get("token_source") != "cache":
            log.info("oauth2: new access token for client %s, valid %s s",
                     self._settings.client_id, result.get("expires_in", "?"))
        return str(result["access_token"])

    def invalidate(self) -> None:
        """Forget cached access tokens: the next token() asks Entra ID again."""
        with self._lock:
            if self._app is None:
                return
            cache = self._app.token_cache
            for item in list(cache.search(cache.CredentialType.ACCESS_TOKEN)):
                cache.remove_at(item)


class ClientCredentialsTokenProvider:
    """The client-credentials grant (RFC 6749 section 4.4) against one token URL."""

    def __init__(
        self,
        token_url: str,
        client_id: str,
        secret: Callable[[], str],
        scope: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        timeout: float = HTTP_TIMEOUT,
    ) -> None:
        self.token_url = token_url
        self.client_id = client_id
        self._secret = secret  # called at each request: the value is not kept
        self.scope = scope
        self._clock = clock
        self._timeout = timeout
        self._token: str | None = None
        self._renew_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: OAuth2Settings) -> ClientCredentialsTokenProvider:
        if settings.client_secret is None:
            raise TokenError("OAuth2: token_url works with client_secret_env only")
        return cls(settings.token_url or "", settings.client_id,
                   settings.client_secret.reveal, settings.scope)

    def __repr__(self) -> str:
        return (f"ClientCredentialsTokenProvider(token_url={self.token_url!r}, "
                f"client_id={self.client_id!r})")

    def token(self) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._renew_at:
                self._token, lifetime = self._request()
                early = min(EARLY_REFRESH_SECONDS, lifetime / 2)
                self._renew_at = self._clock() + lifetime - early
                log.info("oauth2: new access token for client %s, valid %d s",
                         self.client_id, lifetime)
            return self._token

    def invalidate(self) -> None:
        with self._lock:
            self._token = None

    def _request(self) -> tuple[str, float]:
        secret = self._secret()
        body = urllib.parse.urlencode({
            "grant_type": "client_credentials", "client_id": self.client_id,
            "client_secret": secret, "scope": self.scope,
        }).encode()  # fmt: skip
        request = urllib.request.Request(
            self.token_url, data=body, method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded",
                     "Accept": "application/json"},
        )  # fmt: skip
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
                answer = _json(response.read())
        except urllib.error.HTTPError as err:
            answer = _json(err.read())
            text = describe_error(answer.get("error"), answer.get("error_description"), secret)
            if err.code >= 500 or err.code == 429:
                raise TokenServiceError(f"OAuth2 token service: HTTP {err.code}: {text}") from err
            raise TokenError(f"OAuth2 token refused: {text}") from err
        except (urllib.error.URLError, OSError) as err:
            reason = getattr(err, "reason", err)
            raise TokenServiceError(f"OAuth2: cannot reach {self.token_url}: {reason}") from err
        token = answer.get("access_token")
        if not isinstance(token, str) or not token:
            raise TokenServiceError(f"OAuth2: {self.token_url} gave no access_token")
        try:
            lifetime = float(answer.get("expires_in", 3600))
        except (TypeError, ValueError):
            lifetime = 3600.0
        return token, max(lifetime, 1.0)


def _json(raw: bytes) -> dict[str, Any]:
    try:
        value = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _first_line(err: BaseException) -> str:
    text = str(err).strip()
    return (text.splitlines()[0] if text else type(err).__name__)[:300]
