import json
import sys
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ApplicationError
from preuves import anchoring, log
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
