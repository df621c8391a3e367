"""check-config's [web] line: the secrets are there and the identity provider answers."""

from __future__ import annotations

import requests

from ..config.settings_types import WebSettings
from ..domain.errors import SettingsError

NEEDED = ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")


def check_web(web: WebSettings) -> tuple[str, str, bool]:
    """("web", what was found, whether it is all right)."""
    try:
        web.oidc_client_secret.reveal()
        if len(web.session_secret.reveal()) < 32:
            return "web", f"{web.session_secret.env} must hold at least 32 characters", False
    except SettingsError as err:
        return "web", "; ".join(err.problems), False
    url = web.oidc_discovery_url
    try:
        answer = requests.get(url, timeout=10)
        document = answer.json() if answer.ok else None
    except (requests.RequestException, ValueError) as err:
        return "web", f"discovery document {url} not reached: {type(err).__name__}", False
    if not isinstance(document, dict):
        return "web", f"discovery document {url}: HTTP {answer.status_code}", False
    absent = [key for key in NEEDED if not document.get(key)]
    if absent:
        return "web", f"discovery document {url} lacks {', '.join(absent)}", False
    if "S256" not in document.get("code_challenge_methods_supported", ["S256"]):
        return "web", f"discovery document {url}: the provider does not offer PKCE (S256)", False
    return "web", (f"identity provider {document['issuer']} answers; the page will listen on "
                   f"{web.host}:{web.port}"), True
