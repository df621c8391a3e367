"""The web page's fixtures (web_kit.py): the local OpenID Connect provider and the app."""

from support.web_kit import oidc, web  # noqa: F401
