"""A CSRF token on every write: a random value in a cookie that each form sends back.

A page of another site can make the browser post to this server, cookie included, but it can
neither read the cookie nor the page, so it cannot send the token in the form (the
double-submit cookie pattern; the cookie is also ``SameSite=Strict``).
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request
from starlette.responses import Response

COOKIE = "monitoring_csrf"
FIELD = "csrf_token"


def token_of(request: Request) -> str:
    """The request's token: its cookie's, or a new one that ``remember`` will set."""
    token = request.cookies.get(COOKIE, "")
    if not _well_formed(token):
        token = getattr(request.state, "new_csrf", None) or secrets.token_urlsafe(32)
        request.state.new_csrf = token
    return token


def remember(request: Request, response: Response) -> None:
    """Set the cookie of a token made for this request."""
    token = getattr(request.state, "new_csrf", None)
    if token:
        response.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")


def valid(request: Request, sent: object) -> bool:
    """Whether ``sent`` (the form's field) is the token of the request's cookie."""
    cookie = request.cookies.get(COOKIE, "")
    return (
        isinstance(sent, str)
        and _well_formed(cookie)
        and hmac.compare_digest(sent.encode(), cookie.encode())
    )


def _well_formed(token: str) -> bool:
    return (
        32 <= len(token) <= 128
        and token.isascii()
        and token.replace("-", "").replace("_", "").isalnum()
    )
