from django.core.management.base import BaseCommand, CommandError, CommandParser

from preuves import anchoring, journal


class Command(BaseCommand):
    help = "Opérations sur le journal chaîné : `journal verify` vérifie toute la chaîne."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="operation", required=True)
        sub.add_parser(
            "verify",
            help="Parcourt la chaîne, signale la première entrée rompue, puis compare les ancrages "
            "publiés dans le journal de transparence.",
        )

    def handle(self, *args, operation: str, **options) -> None:
        if operation == "verify":
            result = journal.verify()
            if not result.ok:
                raise CommandError(f"Journal rompu : {result.error}")
            anchors = anchoring.verify_anchors()
            if not anchors.ok:
                raise CommandError(f"Journal réécrit : {anchors.error}")
            self.stdout.write(
                self.style.SUCCESS(
                    f"Journal intègre : {result.count} entrées, tête {result.head_hash}, "
                    f"{anchors.count} ancrages concordants"
                )
            )
