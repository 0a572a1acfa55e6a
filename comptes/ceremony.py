"""The ceremony passphrase of a commission member, and the `age` key derived from it.

Argon2id (argon2-cffi) stretches the passphrase with a random salt into 32 bytes, used as
an X25519 private key: its public half is an `age` recipient (`age1…`) to which the shares
of opening keys are sealed at publication; the private half exists only while the member
unlocks their shares at the ceremony. The bech32 encoding of both halves is age's own
(the `bech32` package), so `age` and pyrage read them as any other X25519 key.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import bech32
import pyrage
from argon2.low_level import Type, hash_secret_raw
from django.conf import settings

SALT_BYTES = 16


@dataclass(frozen=True)
class Parameters:
    time_cost: int
    memory_cost: int
    parallelism: int

    @classmethod
    def current(cls) -> Parameters:
        return cls(**settings.CEREMONY_ARGON2)


def new_salt() -> bytes:
    return secrets.token_bytes(SALT_BYTES)


def _encode(hrp: str, data: bytes) -> str:
    return bech32.bech32_encode(hrp, bech32.convertbits(data, 8, 5))


def derive_identity(passphrase: str, salt: bytes, parameters: Parameters) -> pyrage.x25519.Identity:
    """The member's X25519 identity: the same passphrase, salt and parameters give the same."""
    seed = hash_secret_raw(
        passphrase.encode("utf-8"),
        bytes(salt),
        time_cost=parameters.time_cost,
        memory_cost=parameters.memory_cost,
        parallelism=parameters.parallelism,
        hash_len=32,
        type=Type.ID,
    )
    return pyrage.x25519.Identity.from_str(_encode("age-secret-key-", seed).upper())


def identity_for(key, passphrase: str) -> pyrage.x25519.Identity:
    """The identity a passphrase gives with a stored CeremonyKey's salt and parameters: the
    right passphrase gives the identity of `key.recipient`, any other a stranger's."""
    parameters = Parameters(key.time_cost, key.memory_cost, key.parallelism)
    return derive_identity(passphrase, bytes(key.salt), parameters)


def recipient_of(identity: pyrage.x25519.Identity) -> str:
    return str(identity.to_public())
