from django.core.management.base import BaseCommand, CommandError, CommandParser

from preuves import audit


def report_or_fail(command: BaseCommand, report: audit.AuditReport) -> None:
    """Print the full verification's figures, or fail naming every problem found."""
    if not report.ok:
        problems = report.problems + (
            [f"… et {report.more_problems} autres problèmes"] if report.more_problems else []
        )
        rewritten = any("journal rompu" not in problem for problem in report.problems)
        title = "Journal réécrit" if rewritten else "Journal rompu"
        raise CommandError(f"{title} : " + " ; ".join(p.removeprefix("journal rompu : ") for p in problems))
    command.stdout.write(
        command.style.SUCCESS(
            f"Journal intègre : {report.entries} entrées, {report.anchors} ancrages concordants ; "
            f"journal de transparence intègre : {report.leaves} feuilles, {report.nodes} nœuds et "
            f"{report.checkpoints} points de contrôle recalculés, {report.cosignatures} contresignatures, "
            f"{report.tokens} jetons d'horodatage"
        )
    )


class Command(BaseCommand):
    help = "Opérations sur le journal chaîné : `journal verify` vérifie toute la chaîne et les preuves."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="operation", required=True)
        sub.add_parser(
            "verify",
            help="Recalcule la chaîne du journal, le journal de transparence (feuilles, arbre, points de "
            "contrôle, contresignatures) et compare les ancrages : la même vérification que "
            "`preuves verify`.",
        )

    def handle(self, *args, operation: str, **options) -> None:
        if operation == "verify":
            report_or_fail(self, audit.verify_all(progress=lambda message: self.stderr.write(message)))
