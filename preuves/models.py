from django.db import models


class JournalEntry(models.Model):
    """One event of the append-only journal. Never updated, never deleted (database triggers
    refuse it); `seq` is contiguous from 1 and `prev_hash` chains each entry to the last."""

    seq = models.PositiveBigIntegerField("numéro", unique=True)
    created_at = models.DateTimeField("date")
    actor_id = models.BigIntegerField("identifiant de l'auteur", null=True, blank=True)
    actor_label = models.CharField("auteur", max_length=254, blank=True)
    organisation_id = models.BigIntegerField("identifiant de l'organisation", null=True, blank=True)
    organisation_label = models.CharField("organisation", max_length=255, blank=True)
    action = models.CharField("action", max_length=100, db_index=True)
    target_type = models.CharField("type de cible", max_length=100, blank=True)
    target_id = models.CharField("identifiant de la cible", max_length=64, blank=True)
    payload = models.JSONField("données", default=dict, blank=True)
    prev_hash = models.CharField("hash précédent", max_length=64)
    hash = models.CharField("hash", max_length=64, unique=True)

    class Meta:
        verbose_name = "entrée du journal"
        verbose_name_plural = "journal"
        ordering = ["seq"]
        indexes = [
            models.Index(fields=["organisation_id", "seq"]),
            models.Index(fields=["target_type", "target_id"]),
        ]

    def __str__(self) -> str:
        return f"n° {self.seq} — {self.action}"


class JournalHead(models.Model):
    """The single row holding the last sequence number and hash. Locked on every append,
    so concurrent writers queue instead of forking the chain, and compared by the verifier
    so that removing the last entries is detected too."""

    seq = models.PositiveBigIntegerField(default=0)
    hash = models.CharField(max_length=64)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="journal_head_single_row")]

    def __str__(self) -> str:
        return f"tête du journal : n° {self.seq}"
