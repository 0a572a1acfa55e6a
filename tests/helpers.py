"""Helpers shared by the tests (not fixtures)."""

import html
import time

import pyotp

from comptes.services import SESSION_2FA_VERIFIED


def login_as(client, user, *, verified: bool = True):
    """Log a user in directly, with a session that passed (or not) the second factor."""
    client.force_login(user)
    session = client.session
    session[SESSION_2FA_VERIFIED] = verified
    session.save()
    return client


def totp_code(user, *, offset_steps: int = 0) -> str:
    """The code an authenticator app shows now (or `offset_steps` steps away)."""
    user.totp_device.refresh_from_db()
    return pyotp.TOTP(user.totp_device.secret).at(time.time() + offset_steps * 30)


def text(response) -> str:
    """The page as a person reads it: HTML entities (&#x27; …) decoded."""
    return html.unescape(response.content.decode())
