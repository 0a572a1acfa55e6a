from django.conf import settings
from django.db import models


class Envelope(models.TextChoices):
    APPLICATION = "application", "candidature"
    OFFER = "offer", "offre"


class OpeningKey(models.Model):
    """The key that opens one envelope of one consultation's deposits. Bidders encrypt to
    `recipient` (published); the matching `age` identity is kept only sealed (ChaCha20-Poly1305)
    under a key-encryption key that exists nowhere but as `threshold`-of-n Shamir shares,
    one sealed to each commission member."""

    consultation = models.ForeignKey(
        "marches.Consultation", on_delete=models.PROTECT, related_name="opening_keys"
    )
    envelope = models.CharField("enveloppe", max_length=20, choices=Envelope.choices)
    recipient = models.CharField("destinataire age", max_length=100)
    sealed_identity = models.BinaryField("identité scellée")
    threshold = models.PositiveSmallIntegerField("parts nécessaires")
    share_count = models.PositiveSmallIntegerField("parts")
    created_at = models.DateTimeField("date")

    class Meta:
        verbose_name = "clé d'ouverture"
        verbose_name_plural = "clés d'ouverture"
        ordering = ["consultation", "envelope"]
        constraints = [
            models.UniqueConstraint(fields=["consultation", "envelope"], name="one_opening_key_per_envelope"),
            models.CheckConstraint(
                condition=models.Q(threshold__gte=2, share_count__gte=models.F("threshold")),
                name="opening_key_threshold",
            ),
            models.CheckConstraint(
                condition=models.Q(recipient__startswith="age1"), name="opening_key_is_age"
            ),
        ]

    def __str__(self) -> str:
        return f"clé d'ouverture ({self.get_envelope_display()}) de {self.consultation}"


class KeyShare(models.Model):
    """One member's share of an opening key's key-encryption key, sealed (as an `age` file) to
    the recipient derived from their ceremony passphrase. `commitment` is published: the
    SHA-256 of the share bound to its key, index and member, so a share brought to the
    ceremony is checked before it is used."""

    opening_key = models.ForeignKey(OpeningKey, on_delete=models.PROTECT, related_name="shares")
    member = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="key_shares")
    ceremony_key = models.ForeignKey("comptes.CeremonyKey", on_delete=models.PROTECT, related_name="shares")
    index = models.PositiveSmallIntegerField("rang de la part")
    sealed_share = models.BinaryField("part scellée")
    commitment = models.CharField("engagement (SHA-256)", max_length=64)

    class Meta:
        verbose_name = "part de clé d'ouverture"
        verbose_name_plural = "parts de clé d'ouverture"
        ordering = ["opening_key", "index"]
        constraints = [
            models.UniqueConstraint(fields=["opening_key", "member"], name="one_share_per_member"),
            models.UniqueConstraint(fields=["opening_key", "index"], name="one_share_per_index"),
        ]

    def __str__(self) -> str:
        return f"part n° {self.index} de {self.member}"
