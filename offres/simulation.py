"""« Simuler un dépôt »: the platform's permanent test consultation, where any company runs
the whole browser deposit — encryption, chunked upload, finalisation, receipt — and the
platform decrypts the deposit at once to report that every file arrived intact.

Its two opening keys are the only ones the platform holds: each identity is sealed with
ChaCha20-Poly1305 under a key derived (HKDF-SHA256) from the platform's SECRET_KEY, and the
key row says so (`platform_held`). Real consultations never get such a key
(opening_keys.create_for_publication makes commission-held keys only, and the database
refuses a platform-held key with shares). Bidders are told plainly: the platform can read
what is deposited here, so only test files belong here.
"""

from __future__ import annotations

import hashlib
import logging

import pyrage
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config.errors import ApplicationError
from marches import services as marches_services
from marches.models import Consultation
from preuves import journal

from . import deposits, opening_keys
from .models import Deposit, Envelope, OpeningKey
from .opening_keys import context

logger = logging.getLogger(__name__)


def _platform_key() -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"marches-ouverts/consultation-de-test/1"
    ).derive(settings.SECRET_KEY.encode())


def test_consultation() -> Consultation:
    """The test consultation with its platform-held keys, created on first use. Keys that
    no longer open (the platform's SECRET_KEY changed) are replaced: only test deposits
    made before the change become unreadable."""
    consultation = marches_services.test_consultation_get_or_create()
    keys = list(consultation.opening_keys.all())
    if len(keys) == len(Envelope.values) and all(_opens(key) for key in keys):
        return consultation
    with transaction.atomic():
        consultation = Consultation.objects.select_for_update().get(pk=consultation.pk)
        for key in consultation.opening_keys.all():
            if not _opens(key):
                journal.record(
                    "opening_keys.test_replaced",
                    organisation=consultation.buyer,
                    target=consultation,
                    payload={"envelope": key.envelope, "recipient": key.recipient},
                )
                key.delete()
        present = set(consultation.opening_keys.values_list("envelope", flat=True))
        for envelope in sorted(set(Envelope.values) - present):
            _create_key(consultation, envelope)
    return consultation


def _create_key(consultation: Consultation, envelope: str) -> OpeningKey:
    identity = pyrage.x25519.Identity.generate()
    key = OpeningKey.objects.create(
        consultation=consultation,
        envelope=envelope,
        recipient=str(identity.to_public()),
        sealed_identity=opening_keys.seal_identity(
            identity, _platform_key(), context(consultation.pk, envelope)
        ),
        threshold=0,
        share_count=0,
        platform_held=True,
        created_at=timezone.now(),
    )
    journal.record(
        "opening_keys.test_created",
        organisation=consultation.buyer,
        target=consultation,
        payload={"envelope": envelope, "recipient": key.recipient},
    )
    return key


def _opens(key: OpeningKey) -> bool:
    try:
        _identity(key)
    except ApplicationError:
        return False
    return True


def _identity(key: OpeningKey) -> pyrage.x25519.Identity:
    if not key.platform_held or not key.consultation.is_test:
        raise ApplicationError(
            "Seuls les plis de la consultation de test sont déchiffrés par la plateforme.",
            code="not_test",
            status=403,
        )
    return opening_keys.unseal_identity(
        key,
        _platform_key(),
        "La clé de la consultation de test ne s'ouvre plus (la clé secrète de la plateforme a changé) : "
        "les plis de test déposés avant ce changement ne peuvent plus être contrôlés.",
    )


class _Digest:
    """Where the clear bytes go: counted and hashed, then dropped."""

    def __init__(self) -> None:
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data) -> int:
        self.hash.update(data)
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


UNREADABLE = (
    "illisible : ce fichier ne s'ouvre pas avec la clé de son enveloppe (chiffré pour un autre "
    "destinataire, ou altéré)"
)


def check(deposit: Deposit) -> list[dict]:
    """Decrypt every file of a received test deposit, streaming, and keep for each one
    whether it opened whole (age authenticates every 64 KiB of payload: a single changed
    byte fails) with the size and SHA-256 of the clear bytes, which are kept nowhere. Runs
    once, after reception (offres.tasks.test_deposit_check); the report is stored."""
    if not deposit.consultation.is_test or deposit.state != Deposit.State.RECEIVED:
        raise ApplicationError(
            "Seuls les plis de la consultation de test sont déchiffrés par la plateforme.",
            code="not_test",
            status=403,
        )
    keys = {key.envelope: key for key in deposit.consultation.opening_keys.select_related("consultation")}
    identities: dict[str, pyrage.x25519.Identity] = {}
    report = []
    for file in deposit.files.order_by("envelope", "name"):
        entry = {"file": file.pk, "envelope": file.envelope, "name": file.name, "intact": False}
        sink, source = _Digest(), deposits.StoredFile(file)
        try:
            if file.envelope not in identities:
                identities[file.envelope] = _identity(keys[file.envelope])
            pyrage.decrypt_io(source, sink, [identities[file.envelope]])
        except (pyrage.DecryptError, OSError):
            logger.info(
                "test deposit %s: file %s does not decrypt", deposit.public_id, file.pk, exc_info=True
            )
            entry["error"] = UNREADABLE
        except ApplicationError as exc:
            entry["error"] = exc.message
        else:
            entry.update(intact=True, size=sink.size, sha256=sink.hash.hexdigest())
        finally:
            source.close()
        report.append(entry)
    with transaction.atomic():
        Deposit.objects.filter(pk=deposit.pk).update(test_report=report)
        journal.record(
            "deposit.test_checked",
            actor=deposit.created_by,
            organisation=deposit.company,
            target=deposit,
            payload={"files": len(report), "intact": sum(e["intact"] for e in report)},
        )
    return report
