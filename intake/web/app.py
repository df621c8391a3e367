"""The Flask application: settings, session cookie, CSRF, security headers, the store.

`create_app(settings)` builds it; `serve(settings)` runs it under waitress
(a production WSGI server) on [web] host and port, 127.0.0.1 by default.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from pathlib import Path

from flask import Flask, render_template, request
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.wrappers import Response

from ..config.settings import is_loopback
from ..config.settings_types import Settings, WebSettings
from ..domain.errors import SettingsError
from ..store.database import Store
from . import auth, views

log = logging.getLogger("intake.web")
HERE = Path(__file__).resolve().parent

# No inline script or style anywhere; the IdP is reached by links and redirects only.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "font-src 'self'; connect-src 'self'; manifest-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def secure_cookie(web: WebSettings) -> bool:
    """Secure, unless the browser reaches the page over plain http on loopback."""
    if web.public_url:
        return web.public_url.startswith("https://")
    return not is_loopback(web.host)


def _secrets_or_exit(web: WebSettings) -> str:
    """The session secret; SettingsError naming every secret that is not there."""
    problems, secret = [], ""
    for key, holder in (("oidc_client_secret_env", web.oidc_client_secret),
                        ("session_secret_env", web.session_secret)):
        try:
            value = holder.reveal()
        except SettingsError:
            problems.append(f"[web] {key}: environment variable {holder.env} is not set")
            continue
        if key == "session_secret_env":
            secret = value
            if len(value) < 32:
                problems.append(f"[web] {key}: {holder.env} must hold at least 32 characters")
    if problems:
        raise SettingsError(problems)
    return secret


def create_app(settings: Settings) -> Flask:
    web = settings.web
    if web is None:
        raise SettingsError(["[web] missing: intake web needs a [web] section"])
    secret = _secrets_or_exit(web)
    app = Flask("intake.web", root_path=str(HERE), static_folder="static",
                template_folder="templates")
    app.config.update(
        SECRET_KEY=secret,
        SESSION_COOKIE_NAME="intake_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SECURE=secure_cookie(web),
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(minutes=web.idle_timeout_minutes),
        WTF_CSRF_SSL_STRICT=False,  # it needs a Referer, which Referrer-Policy withholds
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        MAX_CONTENT_LENGTH=64 * 1024,  # forms only: a reason, a note
        INTAKE_SETTINGS=settings,
        INTAKE_WEB=web,
    )
    app.jinja_env.autoescape = True
    CSRFProtect(app)
    auth.setup(app, web)
    app.register_blueprint(views.blueprint)
    stores = threading.local()

    def store() -> Store:
        if getattr(stores, "store", None) is None:  # one connection a waitress thread
            stores.store = Store(settings.store_path)
        return stores.store

    app.extensions["intake_store"] = store

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Content-Type-Options"] = "nosniff"
        headers["Cross-Origin-Opener-Policy"] = "same-origin"
        headers["Permissions-Policy"] = "camera=(), microphone=(), geolocation=()"
        if request.endpoint != "static":
            headers["Cache-Control"] = "no-store"
        # The path only: a reference is not personal, a query string may hold anything typed.
        log.info("web %s %s %s", request.method, request.path, response.status_code)
        return response

    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError) -> tuple[str, int]:
        return render_template("error.html", title="Form expired",
                               message="The form had expired or did not come from this "
                                       "service. Go back, reload the page and try again."), 400

    @app.errorhandler(403)
    def _forbidden(error: Exception) -> tuple[str, int]:
        return render_template("no_access.html"), 403

    @app.errorhandler(404)
    def _not_found(error: Exception) -> tuple[str, int]:
        return render_template("error.html", title="Page not found",
                               message="There is no such page."), 404

    @app.errorhandler(405)
    def _not_allowed(error: Exception) -> tuple[str, int]:
        return render_template("error.html", title="Not allowed",
                               message="That cannot be done on this page."), 405

    return app


def serve(settings: Settings) -> int:
    """`intake web`: serve the app with waitress until stopped."""
    import waitress

    app = create_app(settings)
    web = settings.web
    assert web is not None
    log.info("web: listening on http://%s:%d", web.host, web.port)
    # Behind the reverse proxy, [web] public_url gives the address the browser uses.
    waitress.serve(app, host=web.host, port=web.port, threads=web.threads, ident="intake")
    return 0
