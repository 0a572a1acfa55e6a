"""``manage.py dume inspect|validate|convert FILE``: the library's command line (exit 2 on refusal)."""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError, CommandParser

import dume
from dume.errors import DumeError
from dume.serialise import to_data


class Command(BaseCommand):
    help = "DUME (ESPD) : inspecter, valider (XSD + Schematron officiels) ou convertir un fichier."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="operation", required=True)
        inspect = sub.add_parser("inspect", help="Affiche le contenu normalisé du DUME.")
        inspect.add_argument("file")
        inspect.add_argument("--json", action="store_true", help="Le modèle complet, en JSON.")
        validate = sub.add_parser("validate", help="Valide contre le XSD et les règles Schematron officiels.")
        validate.add_argument("file")
        convert = sub.add_parser("convert", help="Réécrit une réponse dans une autre version.")
        convert.add_argument("file")
        convert.add_argument("--to", required=True, choices=["4.1.0", "2.1.1"], dest="target")
        convert.add_argument("--output", "-o", help="Fichier de sortie (par défaut : la sortie standard).")
        pdf = sub.add_parser("pdf", help="Écrit la version lisible (PDF) du DUME.")
        pdf.add_argument("file")
        pdf.add_argument("--output", "-o", required=True, help="Fichier PDF à écrire.")

    def handle(self, *args, operation: str, file: str, **options) -> None:
        try:
            if operation == "inspect":
                self.inspect(file, as_json=options["json"])
            elif operation == "validate":
                self.validate(file)
            elif operation == "pdf":
                self.pdf(file, options["output"])
            else:
                self.convert(file, options["target"], options.get("output"))
        except DumeError as exc:
            raise CommandError(f"{file} refusé :\n{exc}", returncode=2) from exc

    def inspect(self, file: str, *, as_json: bool) -> None:
        document = dume.read(Path(file))
        if as_json:
            self.stdout.write(json.dumps(to_data(document), ensure_ascii=False, indent=2))
            return
        kind = "Demande (Request)" if document.kind == "request" else "Réponse (Response)"
        lines = [
            f"{kind} ESPD-EDM {document.version} ({document.profile or 'profil non précisé'})",
            f"Identifiant : {document.id or '—'} ; UUID : {document.uuid or '—'}",
            f"Procédure : {document.contract_folder_id or '—'} ; lots : {', '.join(document.lots) or '—'}"
            + (f" (groupe de lots {document.lot_group})" if document.lot_group else ""),
            f"Acheteur : {document.buyer.name if document.buyer else '—'}"
            + (f" ({document.buyer.country})" if document.buyer and document.buyer.country else ""),
        ]
        operator = document.economic_operator
        if operator is not None:
            ids = ", ".join(f"{i.value} ({i.scheme or 'schéma non précisé'})" for i in operator.identifiers)
            sme = {True: "oui", False: "non", None: "non précisé"}[operator.sme]
            lines.append(
                f"Opérateur économique : {operator.name or '—'} ({operator.country or 'pays non précisé'}) ; "
                f"identifiants : {ids or '—'} ; PME : {sme} ; rôle : {operator.role or '—'}"
            )
            if operator.representatives:
                names = ", ".join(
                    " ".join(filter(None, (p.first_name, p.family_name))) or "—"
                    for p in operator.representatives
                )
                lines.append(f"Représentants : {names}")
            if operator.relied_upon:
                lines.append(f"Entités dont les capacités sont invoquées : {len(operator.relied_upon)}")
        if document.request is not None:
            lines.append(f"Répond à la demande : {document.request.id}")
        answers = sum(len(c.answers) for c in document.criteria)
        lines.append(f"Critères : {len(document.criteria)} ; réponses : {answers}")
        for criterion in document.criteria:
            answered = "oui" if criterion.answers else "non"
            lines.append(
                f"  - [{criterion.category}] {criterion.type_code or criterion.uuid} — répondu : {answered}"
            )
        self.stdout.write("\n".join(lines))

    def validate(self, file: str) -> None:
        report = dume.validate(Path(file))
        for note in report.notes:
            self.stdout.write(note)
        for issue in report.warnings:
            self.stdout.write(f"avertissement : {issue}")
        if report.errors:
            details = "\n".join(f"- {issue}" for issue in report.errors)
            raise CommandError(
                f"{file} : {len(report.errors)} règle(s) non respectée(s) (ESPD-EDM {report.version}) :\n{details}",
                returncode=2,
            )
        self.stdout.write(
            self.style.SUCCESS(f"{file} : valide (XSD et Schematron ESPD-EDM {report.version}).")
        )

    def convert(self, file: str, target: str, output: str | None) -> None:
        document = dume.read(Path(file))
        xml, losses = dume.convert(document, target)
        for loss in losses:
            self.stderr.write(f"non repris : {loss}")
        if output:
            Path(output).write_bytes(xml)
            self.stdout.write(f"Écrit : {output} (ESPD-EDM {target}, {len(losses)} élément(s) non repris).")
        else:
            self.stdout.write(xml.decode("utf-8"), ending="")

    def pdf(self, file: str, output: str) -> None:
        from dume import pdf

        document = dume.read(Path(file))
        Path(output).write_bytes(pdf.render(document))
        self.stdout.write(f"Écrit : {output} (version lisible du DUME, ESPD-EDM {document.version}).")
