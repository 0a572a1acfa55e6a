"""Random secrets that are shown once and stored only as a SHA-256 digest."""

import hashlib
import secrets

# Crockford-like alphabet without the look-alikes 0/O and 1/I/L, for codes typed by hand.
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_url_token() -> str:
    return secrets.token_urlsafe(32)


def new_recovery_code() -> str:
    """16 characters from a 31-letter alphabet: 79 bits, grouped by four for reading."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(16))
    return "-".join(raw[i : i + 4] for i in range(0, 16, 4))


def normalise_code(code: str) -> str:
    compact = "".join(ch for ch in code.upper() if ch.isalnum())
    return "-".join(compact[i : i + 4] for i in range(0, len(compact), 4))
