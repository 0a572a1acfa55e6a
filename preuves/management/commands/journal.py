from django.core.management.base import BaseCommand, CommandError, CommandParser

from preuves import journal


class Command(BaseCommand):
    help = "Opérations sur le journal chaîné : `journal verify` vérifie toute la chaîne."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="operation", required=True)
        sub.add_parser("verify", help="Parcourt la chaîne et signale la première entrée rompue.")

    def handle(self, *args, operation: str, **options) -> None:
        if operation == "verify":
            result = journal.verify()
            if not result.ok:
                raise CommandError(f"Journal rompu : {result.error}")
            self.stdout.write(
                self.style.SUCCESS(f"Journal intègre : {result.count} entrées, tête {result.head_hash}")
            )
