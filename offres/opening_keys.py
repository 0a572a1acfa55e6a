"""Opening keys held by the commission (DESIGN.md, "Sealed deposit protocol").

At publication, for each envelope (candidature, offre) of the consultation:

1. a fresh X25519 `age` identity is generated; its recipient (`age1…`) is published, and
   bidders encrypt to it;
2. the identity is sealed with ChaCha20-Poly1305 under a random 32-byte key-encryption key
   (KEK), the consultation and the envelope bound in as associated data;
3. the KEK is split k-of-n with Shamir's scheme (pycryptodome, over GF(2¹²⁸): the 32 bytes
   as two 16-byte secrets, split with the same indexes), k being the commission's quorum;
4. each share is sealed to its member as an `age` file, to the recipient derived from their
   ceremony passphrase (comptes/ceremony.py), and a commitment to it is published.

The clear identity and the KEK live in this process's memory for the length of the
publication and are written nowhere: not the database, storage, logs nor journal.
Reconstruction refuses fewer than k shares, a share that does not match its commitment, and
a set of shares that does not open the sealed identity: it never returns a wrong key.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

import pyrage
from Crypto.Protocol.SecretSharing import Shamir
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from django.utils import timezone

from comptes import ceremony
from config.errors import ApplicationError
from preuves import journal

from .models import Envelope, KeyShare, OpeningKey

KEK_BYTES = 32
NONCE_BYTES = 12
FORMAT = b"marches-ouverts/cle-d-ouverture/1"


class OpeningError(ApplicationError):
    def __init__(self, message: str) -> None:
        super().__init__(message, code="opening_refused", status=403)


def context(consultation_id: int, envelope: str) -> bytes:
    return b"|".join([FORMAT, str(consultation_id).encode(), envelope.encode()])


def commitment(*, key_context: bytes, index: int, member_id: int, share: bytes) -> str:
    return hashlib.sha256(
        b"|".join([key_context, b"part", str(index).encode(), str(member_id).encode(), share])
    ).hexdigest()


def split(secret: bytes, threshold: int, count: int) -> list[tuple[int, bytes]]:
    if len(secret) != KEK_BYTES:
        raise ValueError("a 32-byte secret is expected")
    first = Shamir.split(threshold, count, secret[:16])
    second = Shamir.split(threshold, count, secret[16:])
    return [(index, a + b) for (index, a), (_, b) in zip(first, second, strict=True)]


def combine(parts: list[tuple[int, bytes]]) -> bytes:
    return Shamir.combine([(i, s[:16]) for i, s in parts]) + Shamir.combine([(i, s[16:]) for i, s in parts])


def create_for_publication(*, consultation, published_by) -> list[OpeningKey]:
    """A publication step (marches.services.PUBLICATION_STEPS): one opening key per envelope."""
    members = [seat.member for seat in consultation.commission.select_related("member")]
    threshold = consultation.quorum
    created = [_create(consultation, envelope, members, threshold) for envelope in Envelope.values]
    journal.record(
        "opening_keys.created",
        actor=published_by,
        organisation=consultation.buyer,
        target=consultation,
        payload={
            key.envelope: {
                "recipient": key.recipient,
                "threshold": key.threshold,
                "shares": [
                    {"index": s.index, "member": s.member.email, "commitment": s.commitment}
                    for s in key.shares.select_related("member")
                ],
            }
            for key in created
        },
    )
    return created


def _create(consultation, envelope: str, members, threshold: int) -> OpeningKey:
    ceremony_keys = {}
    for member in members:
        key = member.ceremony_key
        if key is None:
            raise ApplicationError(
                f"{member.get_full_name() or member.email} n'a pas de phrase de passe de séance : "
                "sa part de la clé d'ouverture ne peut pas être scellée.",
                code="publication_refused",
            )
        ceremony_keys[member.pk] = key
    key_context = context(consultation.pk, envelope)
    identity = pyrage.x25519.Identity.generate()
    kek = secrets.token_bytes(KEK_BYTES)
    opening_key = OpeningKey.objects.create(
        consultation=consultation,
        envelope=envelope,
        recipient=str(identity.to_public()),
        sealed_identity=seal_identity(identity, kek, key_context),
        threshold=threshold,
        share_count=len(members),
        created_at=timezone.now(),
    )
    shares = []
    for (index, share), member in zip(split(kek, threshold, len(members)), members, strict=True):
        recipient = pyrage.x25519.Recipient.from_str(ceremony_keys[member.pk].recipient)
        shares.append(
            KeyShare(
                opening_key=opening_key,
                member=member,
                ceremony_key=ceremony_keys[member.pk],
                index=index,
                sealed_share=pyrage.encrypt(share, [recipient]),
                commitment=commitment(key_context=key_context, index=index, member_id=member.pk, share=share),
            )
        )
    KeyShare.objects.bulk_create(shares)
    return opening_key


# --- Reconstruction (the ceremony gathers the shares; issue #5 provides the function) -------


@dataclass(frozen=True)
class UnlockedShare:
    share: KeyShare
    value: bytes


def unlock_share(share: KeyShare, passphrase: str) -> UnlockedShare:
    """A member's share, opened with their ceremony passphrase and checked against its
    published commitment."""
    identity = ceremony.identity_for(share.ceremony_key, passphrase)
    name = share.member.get_full_name() or share.member.email
    try:
        value = pyrage.decrypt(bytes(share.sealed_share), [identity])
    except pyrage.DecryptError:
        raise OpeningError(f"Phrase de passe de séance incorrecte pour {name}.") from None
    _check(share, value)
    return UnlockedShare(share, value)


def _check(share: KeyShare, value: bytes) -> None:
    opening_key = share.opening_key
    expected = commitment(
        key_context=context(opening_key.consultation_id, opening_key.envelope),
        index=share.index,
        member_id=share.member_id,
        share=value,
    )
    if len(value) != KEK_BYTES or expected != share.commitment:
        name = share.member.get_full_name() or share.member.email
        raise OpeningError(
            f"La part de {name} ne correspond pas à son engagement publié : elle a été altérée."
        )


def reconstruct(opening_key: OpeningKey, unlocked: list[UnlockedShare]) -> pyrage.x25519.Identity:
    """The envelope's `age` identity from at least k unlocked shares of this key."""
    by_index: dict[int, bytes] = {}
    for item in unlocked:
        if item.share.opening_key_id != opening_key.pk:
            raise OpeningError("Une des parts appartient à une autre clé d'ouverture.")
        _check(item.share, item.value)
        by_index[item.share.index] = item.value
    if len(by_index) < opening_key.threshold:
        raise OpeningError(
            f"{opening_key.threshold} parts distinctes sont nécessaires pour ouvrir les plis "
            f"({opening_key.get_envelope_display()}), {len(by_index)} réunie(s)."
        )
    return open_identity(opening_key, sorted(by_index.items()))


def open_identity(opening_key: OpeningKey, parts: list[tuple[int, bytes]]) -> pyrage.x25519.Identity:
    """Combine raw shares and open the sealed identity; authenticated encryption turns any
    wrong share into a refusal, never into another key."""
    return unseal_identity(
        opening_key,
        combine(parts),
        "Les parts réunies ne reconstituent pas la clé d'ouverture : au moins l'une d'elles est erronée.",
    )


def seal_identity(identity: pyrage.x25519.Identity, kek: bytes, key_context: bytes) -> bytes:
    """The identity sealed (ChaCha20-Poly1305, random nonce first) under `kek`, bound to its
    consultation and envelope."""
    nonce = secrets.token_bytes(NONCE_BYTES)
    return nonce + ChaCha20Poly1305(kek).encrypt(nonce, str(identity).encode(), key_context)


def unseal_identity(opening_key: OpeningKey, kek: bytes, refusal: str) -> pyrage.x25519.Identity:
    """The identity sealed in `opening_key` under `kek`: a wrong key is refused with
    `refusal`, and an identity that is not the published recipient's too."""
    sealed = bytes(opening_key.sealed_identity)
    try:
        clear = ChaCha20Poly1305(kek).decrypt(
            sealed[:NONCE_BYTES],
            sealed[NONCE_BYTES:],
            context(opening_key.consultation_id, opening_key.envelope),
        )
    except InvalidTag:
        raise OpeningError(refusal) from None
    identity = pyrage.x25519.Identity.from_str(clear.decode())
    if str(identity.to_public()) != opening_key.recipient:
        raise OpeningError("La clé reconstituée ne correspond pas au destinataire publié.")
    return identity
