"""TOTP (RFC 6238) helpers on top of pyotp: step arithmetic for replay protection and the
QR code for enrolment, rendered server-side as SVG (no external service)."""

import time

import pyotp
import segno
from django.conf import settings

STEP_SECONDS = 30
# Accept the previous and next step too, to absorb clock drift of a phone.
DRIFT_STEPS = 1


def new_secret() -> str:
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, account: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=settings.TOTP_ISSUER)


def qr_svg(uri: str) -> str:
    """Inline SVG with a title for screen readers."""
    return segno.make(uri, error="m").svg_inline(
        scale=5, title="QR code à scanner avec votre application d'authentification"
    )


# What an authenticator app shows, as people copy it: six digits, maybe split by a space.
SEPARATORS = str.maketrans("", "", " \t\u00a0\u202f-.")
DIGITS = 6


def compact(code: str) -> str:
    return code.translate(SEPARATORS)


def is_well_formed(code: str) -> bool:
    """Six ASCII digits once spaces, dots and dashes are taken out. Anything else (letters, a
    missing or extra digit) is a typing slip, not a guess: refused without counting."""
    digits = compact(code)
    return len(digits) == DIGITS and digits.isascii() and digits.isdigit()


def matching_step(secret: str, code: str, *, at: float | None = None) -> int | None:
    """The time step whose code equals `code`, within the drift window; None if none does."""
    if not is_well_formed(code):
        return None
    code = compact(code)
    totp = pyotp.TOTP(secret)
    now = time.time() if at is None else at
    current = int(now // STEP_SECONDS)
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        if pyotp.utils.strings_equal(totp.at(step * STEP_SECONDS), code):
            return step
    return None
