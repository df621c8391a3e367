"""Sign-in with OpenID Connect (Entra ID in production): authorization code flow with PKCE.

authlib checks the state (each one good once), the ID token's signature
against the provider's keys, its issuer, audience, expiry and nonce. A person
gets in only with the `mash` or `manager` role (app roles or groups, as
[web] says); the session holds who they are and when they were last seen,
and lapses after the idle timeout.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from functools import wraps
from typing import Any

from authlib.integrations.flask_client import OAuth
from flask import Blueprint, Flask, abort, current_app, redirect, render_template, session, url_for
from werkzeug.wrappers import Response

from ..config.settings_types import WebSettings

log = logging.getLogger("intake.web")

MASH, MANAGER = "mash", "manager"
blueprint = Blueprint("auth", __name__)


def setup(app: Flask, web: WebSettings) -> None:
    oauth = OAuth(app)
    oauth.register(
        "entra",
        client_id=web.oidc_client_id,
        client_secret=web.oidc_client_secret.reveal(),
        server_metadata_url=web.oidc_discovery_url,
        client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256",
                       "timeout": 10},
    )
    app.extensions["intake_oauth"] = oauth
    app.register_blueprint(blueprint)


def _client() -> Any:
    return current_app.extensions["intake_oauth"].entra


def _web() -> WebSettings:
    return current_app.config["INTAKE_WEB"]


def roles_from(claims: dict[str, Any], web: WebSettings) -> list[str]:
    """The service's roles named in the token's roles (or groups) claim."""
    values = claims.get(web.oidc_roles_claim) or []
    if isinstance(values, str):
        values = [values]
    wanted = {MASH: web.oidc_mash_role, MANAGER: web.oidc_manager_role}
    return [role for role, value in wanted.items() if value in values]


def person() -> dict[str, Any] | None:
    """The signed-in person, or None (never signed in, or idle too long)."""
    who = session.get("person")
    if not who:
        return None
    idle = time.time() - float(session.get("seen", 0))
    if idle > _web().idle_timeout_minutes * 60:
        session.clear()
        session["timed_out"] = True
        return None
    session["seen"] = time.time()
    return who


def requires(role: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Signed in (else to the sign-in page) and holding `role` (else 403, no access)."""

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(*args: Any, **kwargs: Any) -> Any:
            who = person()
            if who is None:
                return redirect(url_for("auth.sign_in"))
            if role not in who["roles"]:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorate


def _redirect_uri() -> str:
    web = _web()
    if web.public_url:
        return f"{web.public_url}{url_for('auth.callback')}"
    return url_for("auth.callback", _external=True)


@blueprint.get("/sign-in")
def sign_in() -> str:
    timed_out = session.pop("timed_out", False)
    return render_template("sign_in.html", timed_out=timed_out)


@blueprint.get("/auth/login")
def login() -> Response:
    return _client().authorize_redirect(_redirect_uri())


@blueprint.get("/auth/callback")
def callback() -> Response | tuple[str, int]:
    try:
        token = _client().authorize_access_token()
    except Exception as err:  # a bad state, code, signature, audience, expiry or nonce
        log.warning("web sign-in refused: %s", type(err).__name__)
        session.clear()
        return render_template("error.html", title="Sign-in failed",
                               message="You could not be signed in. Try again, and if it "
                                       "keeps failing, contact the service desk."), 403
    claims = token.get("userinfo") or {}
    session.clear()
    session["person"] = {
        "name": str(claims.get("name") or claims.get("preferred_username") or "unknown"),
        "username": str(claims.get("preferred_username") or claims.get("email") or ""),
        "oid": str(claims.get("oid") or claims.get("sub") or ""),
        "roles": roles_from(claims, _web()),
    }
    session["seen"] = time.time()
    log.info("web sign-in: roles %s", ",".join(session["person"]["roles"]) or "none")
    return redirect(url_for("pages.home"))


@blueprint.post("/sign-out")
def sign_out() -> Response:
    session.clear()
    return redirect(url_for("auth.sign_in"))
