import json
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from preuves import anchoring, audit, keys, log, verifier, witness
from preuves.models import Checkpoint, TimestampToken


class Command(BaseCommand):
    help = (
        "Preuves : exporter un jeton d'horodatage (.tsr), un point de contrôle, un paquet de preuve ou "
        "une preuve de cohérence ; signer un point de contrôle ; ancrer le journal."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="operation", required=True)
        token = sub.add_parser("export-token", help="Écrit la réponse d'horodatage n° ID (.tsr, DER).")
        token.add_argument("id", type=int)
        point = sub.add_parser("export-checkpoint", help="Écrit un point de contrôle (JSON).")
        point.add_argument("--size", type=int, help="taille publiée (défaut : le dernier point)")
        bundle = sub.add_parser("export-bundle", help="Écrit le paquet de preuve de la feuille INDEX.")
        bundle.add_argument("index", type=int)
        proof = sub.add_parser("export-consistency", help="Écrit la preuve de cohérence FIRST → SECOND.")
        proof.add_argument("first", type=int)
        proof.add_argument("second", type=int)
        attestation = sub.add_parser(
            "attestation", help="Écrit l'attestation PDF scellée d'un point de contrôle."
        )
        attestation.add_argument("--size", type=int, help="taille publiée (défaut : le dernier point)")
        for command in (token, point, bundle, proof, attestation):
            command.add_argument("-o", "--output", help="fichier de sortie (défaut : la sortie standard)")
        sub.add_parser(
            "verify",
            help="Vérification complète : recalcule chaque feuille, l'arbre, chaque point de contrôle "
            "(signature, horodatage, contresignatures), la chaîne du journal et ses ancrages.",
        )
        watch = sub.add_parser(
            "witness",
            help="Témoin (C2SP tlog-witness) : récupère le dernier point de contrôle de la plateforme à "
            "BASE_URL, vérifie qu'il prolonge le dernier contresigné, le contresigne et lui rend la "
            "contresignature.",
        )
        watch.add_argument("base_url", metavar="BASE_URL")
        watch.add_argument(
            "--log-key",
            help="clé publique du journal observé (PEM, /preuves/log/key.pem), épinglée au premier passage "
            "s'il n'est pas dans PREUVES_WITNESSED_LOGS",
        )
        sub.add_parser("witness-key", help="Affiche la clé de témoin de cette plateforme (vkey C2SP).")
        sub.add_parser("log-key", help="Affiche la clé du journal de cette plateforme (vkey C2SP).")
        sub.add_parser("checkpoint", help="Signe et horodate la tête de l'arbre si elle a grandi.")
        sub.add_parser("anchor", help="Ancre la tête du journal dans le journal de transparence.")

    def handle(self, *args, operation: str, **options) -> None:
        try:
            getattr(self, operation.replace("-", "_"))(**options)
        except ApplicationError as exc:
            raise CommandError(exc.message) from None

    def _write(self, data: bytes, output: str | None) -> None:
        if output:
            Path(output).write_bytes(data)
            self.stderr.write(f"{len(data)} octets écrits dans {output}")
        else:
            sys.stdout.buffer.write(data)

    def _write_json(self, document: dict, output: str | None) -> None:
        self._write(json.dumps(document, ensure_ascii=False, indent=2).encode() + b"\n", output)

    def export_token(self, *, id: int, output: str | None, **_) -> None:
        token = TimestampToken.objects.filter(pk=id).first()
        if token is None:
            raise CommandError(f"aucun jeton d'horodatage n° {id}")
        self._write(bytes(token.response), output)

    def _checkpoint(self, size: int | None) -> Checkpoint:
        if size is None:
            return Checkpoint.objects.order_by("-size").first() or log.checkpoint()
        point = Checkpoint.objects.filter(size=size).first()
        if point is None:
            raise CommandError(f"aucun point de contrôle publié pour la taille {size}")
        return point

    def export_checkpoint(self, *, size: int | None, output: str | None, **_) -> None:
        self._write_json(log.checkpoint_json(self._checkpoint(size)), output)

    def attestation(self, *, size: int | None, output: str | None, **_) -> None:
        self._write(log.attestation_pdf(self._checkpoint(size)), output)

    def export_bundle(self, *, index: int, output: str | None, **_) -> None:
        self._write_json(log.bundle(index), output)

    def export_consistency(self, *, first: int, second: int, output: str | None, **_) -> None:
        self._write_json(log.consistency(first, second), output)

    def verify(self, **_) -> None:
        from .journal import report_or_fail

        report_or_fail(self, audit.verify_all(progress=lambda message: self.stderr.write(message)))

    def witness(self, *, base_url: str, log_key: str | None, **_) -> None:
        key = None
        if log_key:
            try:
                key = verifier.load_log_key(Path(log_key).read_bytes())
            except (OSError, verifier.VerificationError) as exc:
                raise CommandError(f"clé du journal « {log_key} » illisible : {exc}") from None
        outcome = witness.witness_log(base_url, log_key=key)
        self.stdout.write(self.style.SUCCESS(f"Contresigné : « {outcome.origin} », taille {outcome.size}"))
        self.stdout.write(outcome.line)
        if outcome.refusal:
            raise CommandError(f"la plateforme n'a pas publié la contresignature : {outcome.refusal}")

    def witness_key(self, **_) -> None:
        self.stdout.write(witness.own_witness().vkey)

    def log_key(self, **_) -> None:
        material = keys.material()
        self.stdout.write(verifier.log_vkey(settings.PREUVES_LOG_ORIGIN, material.log_key.public_key()))

    def checkpoint(self, **_) -> None:
        point = log.checkpoint()
        self.stdout.write(
            self.style.SUCCESS(
                f"Point de contrôle : taille {point.size}, racine {bytes(point.root_hash).hex()}"
            )
        )

    def anchor(self, **_) -> None:
        leaf = anchoring.anchor_journal()
        if leaf is None:
            self.stdout.write("Rien à ancrer : la tête du journal est déjà dans le journal de transparence.")
        else:
            self.stdout.write(self.style.SUCCESS(f"Tête du journal ancrée : feuille n° {leaf.index}"))
