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


class TimestampToken(models.Model):
    """An RFC 3161 token the platform obtained (from its own TSA or an external one), with
    what it covers. `response` is the whole TimeStampResp as received, so exporting it gives
    the `.tsr` file that `openssl ts -verify -in` reads. Stored only after verification."""

    created_at = models.DateTimeField("date de réception")
    purpose = models.CharField("objet", max_length=100, db_index=True)
    subject_type = models.CharField("type de l'élément horodaté", max_length=100, blank=True)
    subject_id = models.CharField("identifiant de l'élément horodaté", max_length=64, blank=True)
    hash_algorithm = models.CharField("algorithme de hachage", max_length=10)
    hashed_message = models.CharField("empreinte horodatée (hex)", max_length=128)
    response = models.BinaryField("réponse d'horodatage (DER)")
    response_sha256 = models.CharField("SHA-256 de la réponse", max_length=64, unique=True)
    gen_time = models.DateTimeField("date d'horodatage")
    serial_number = models.CharField("numéro de série", max_length=64)
    tsa_name = models.CharField("autorité d'horodatage", max_length=500)
    policy_oid = models.CharField("politique", max_length=200)

    class Meta:
        verbose_name = "jeton d'horodatage"
        verbose_name_plural = "jetons d'horodatage"
        ordering = ["id"]
        indexes = [models.Index(fields=["subject_type", "subject_id"])]

    def __str__(self) -> str:
        return f"jeton n° {self.serial_number} ({self.purpose})"


class LogLeaf(models.Model):
    """One entry of the transparency log (RFC 9162). `data` is the exact canonical JSON
    that was hashed; `index` runs from 0 without gaps (the head row is locked on append)."""

    index = models.PositiveBigIntegerField("rang", unique=True)
    kind = models.CharField("type", max_length=50, db_index=True)
    data = models.BinaryField("données (JSON canonique)")
    leaf_hash = models.BinaryField("hash de la feuille", max_length=32)
    created_at = models.DateTimeField("date d'ajout")

    class Meta:
        verbose_name = "feuille du journal de transparence"
        verbose_name_plural = "feuilles du journal de transparence"
        ordering = ["index"]

    def __str__(self) -> str:
        return f"feuille n° {self.index} ({self.kind})"


class LogNode(models.Model):
    """The hash of a complete subtree: 2**level leaves starting at leaf `position * 2**level`.
    Written once when the subtree completes and never changed, so any proof is assembled
    from O(log² n) stored hashes instead of rehashing leaves. `key = position << 6 | level`."""

    key = models.BigIntegerField(primary_key=True)
    hash = models.BinaryField(max_length=32)

    class Meta:
        verbose_name = "nœud du journal de transparence"
        verbose_name_plural = "nœuds du journal de transparence"

    def __str__(self) -> str:
        return f"nœud {self.key >> 6}@{self.key & 63}"


class LogHead(models.Model):
    """The single row holding the tree's size and root. Locked on append (appends queue,
    indexes stay contiguous) and read without lock for checkpoints (a committed state)."""

    size = models.PositiveBigIntegerField(default=0)
    root_hash = models.BinaryField(max_length=32)

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="log_head_single_row")]

    def __str__(self) -> str:
        return f"journal de transparence : {self.size} feuilles"


class Checkpoint(models.Model):
    """A signed tree head: the C2SP signed note over (origin, size, root), signed with the
    log's Ed25519 key, and an RFC 3161 token over that signed note."""

    size = models.PositiveBigIntegerField("taille", unique=True)
    root_hash = models.BinaryField("racine", max_length=32)
    origin = models.CharField("origine", max_length=255)
    note = models.TextField("note signée")
    created_at = models.DateTimeField("date")
    timestamp = models.OneToOneField(
        TimestampToken, on_delete=models.PROTECT, null=True, blank=True, related_name="checkpoint"
    )

    class Meta:
        verbose_name = "point de contrôle"
        verbose_name_plural = "points de contrôle"
        ordering = ["size"]

    def __str__(self) -> str:
        return f"point de contrôle, taille {self.size}"


class CheckpointLock(models.Model):
    """The row checkpoint writers lock, so that they queue without holding up appends."""

    class Meta:
        constraints = [models.CheckConstraint(condition=models.Q(pk=1), name="checkpoint_lock_single_row")]

    def __str__(self) -> str:
        return "verrou des points de contrôle"


class Cosignature(models.Model):
    """A witness's countersignature of one checkpoint (C2SP tlog-cosignature, Ed25519,
    `cosignature/v1`): the witness states that, at `signed_at`, this was the largest tree it
    had seen of the log, consistent with every earlier one. `line` is the note signature line
    exactly as the witness gave it; it is checked against PREUVES_WITNESSES before it is
    stored, and published beside the checkpoint. Append-only, like the checkpoint."""

    checkpoint = models.ForeignKey(Checkpoint, on_delete=models.PROTECT, related_name="cosignatures")
    witness = models.CharField("témoin", max_length=255)
    key_id = models.CharField("identifiant de clé (hex)", max_length=8)
    signed_at = models.DateTimeField("date de la contresignature")
    line = models.TextField("ligne de signature")
    received_at = models.DateTimeField("date de réception")

    class Meta:
        verbose_name = "contresignature"
        verbose_name_plural = "contresignatures"
        ordering = ["checkpoint_id", "witness"]
        constraints = [
            models.UniqueConstraint(fields=["checkpoint", "witness", "key_id"], name="cosignature_once")
        ]

    def __str__(self) -> str:
        return f"contresignature de {self.witness} (taille {self.checkpoint.size})"


class WitnessedLog(models.Model):
    """This platform as a witness of another log (C2SP tlog-witness): the latest checkpoint
    of that log it cosigned, and the hashes of the complete subtrees of that tree (its
    frontier, largest first), so that a later checkpoint which does not extend it can be
    shown to diverge within a named range of leaves. The size only grows (a trigger refuses
    a rollback); each cosignature is also in this platform's journal."""

    origin = models.CharField("origine du journal", max_length=255, unique=True)
    log_key = models.TextField("clé du journal (vkey C2SP)")
    size = models.PositiveBigIntegerField("taille contresignée")
    root_hash = models.BinaryField("racine", max_length=32)
    note = models.TextField("note contresignée")
    # Null when the witness did not fetch the leaves (a first catch-up too large to mirror).
    frontier = models.JSONField("sous-arbres complets (hex)", null=True, blank=True)
    updated_at = models.DateTimeField("date")

    class Meta:
        verbose_name = "journal observé"
        verbose_name_plural = "journaux observés"

    def __str__(self) -> str:
        return f"{self.origin} : taille {self.size}"
