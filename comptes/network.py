"""The client's address, as the journal and the login lockout see it."""

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest | None) -> str:
    """REMOTE_ADDR, unless the platform runs behind TRUSTED_PROXY_COUNT reverse proxies: then
    the address the outermost trusted proxy saw, counted from the right of X-Forwarded-For
    (entries further left are whatever the client chose to send)."""
    if request is None:
        return ""
    count = settings.TRUSTED_PROXY_COUNT
    forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if p.strip()]
    if count and len(forwarded) >= count:
        return forwarded[-count]
    return request.META.get("REMOTE_ADDR", "")
