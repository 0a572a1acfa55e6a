"""Deposits made straight through the services (no HTTP), for the tests that are about what
happens once a deposit is there."""

from __future__ import annotations

import io

import pyrage

from offres import deposits


def encrypt_to(consultation, envelope: str, clear: bytes) -> bytes:
    """`clear` as the `age` CLI would encrypt it to the envelope's published recipient."""
    recipient = consultation.opening_keys.get(envelope=envelope).recipient
    return pyrage.encrypt(clear, [pyrage.x25519.Recipient.from_str(recipient)])


def uploaded(consultation, user, files: list[tuple[str, str, bytes]], *, lots=(), company=None):
    """Open a deposit and upload `files`, given as (envelope, name, ciphertext), one chunk a
    file; not finalised."""
    company = company or deposits.company_for(user)
    opened = deposits.deposit_open(consultation=consultation, company=company, user=user, lots=list(lots))
    for envelope, name, data in files:
        file = deposits.file_add(deposit=opened, user=user, envelope=envelope, name=name, size=len(data))
        deposits.chunk_receive(file=file, user=user, offset=0, stream=io.BytesIO(data), length=len(data))
    return opened


def receive(consultation, user, files: list[tuple[str, str, bytes]], *, lots=(), company=None):
    """The same deposit, finalised."""
    opened = uploaded(consultation, user, files, lots=lots, company=company)
    return deposits.deposit_finalise(deposit=opened, user=user)
