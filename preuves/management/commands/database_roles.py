"""`manage.py database_roles`: the owner and runtime roles of the PostgreSQL database
(preuves/database_roles.py, docs/deploy.md, "Database roles")."""

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, connections

from preuves import database_roles


class Command(BaseCommand):
    help = (
        "Rôles PostgreSQL : `grant RÔLE` donne au rôle d'exécution ses seuls droits (à lancer par le "
        "propriétaire des tables après migrate), `check [RÔLE]` vérifie qu'un rôle ne peut pas réécrire "
        "l'historique, `reassign PROPRIÉTAIRE` transfère la base et ses tables au rôle propriétaire."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="alias de la base (défaut : default)"
        )
        sub = parser.add_subparsers(dest="operation", required=True)
        grant = sub.add_parser(
            "grant",
            help="Révoque puis accorde au rôle d'exécution SELECT, INSERT sur les tables en ajout seul, "
            "SELECT, INSERT, UPDATE sur les têtes, les droits ordinaires ailleurs ; idempotent.",
        )
        grant.add_argument(
            "role", help="le rôle d'exécution (celui de DATABASE_URL pour web, worker et beat)"
        )
        check = sub.add_parser(
            "check",
            help="Signale ce qui permettrait au rôle (défaut : celui de la connexion) "
            "de réécrire l'historique.",
        )
        check.add_argument("role", nargs="?", default=None)
        reassign = sub.add_parser(
            "reassign",
            help="Donne au rôle propriétaire la base, ses tables, séquences et fonctions (une fois, en "
            "superutilisateur, pour une installation qui se connectait en propriétaire).",
        )
        reassign.add_argument("owner")

    def handle(self, *args, operation: str, database: str, **options) -> None:
        connection = connections[database]
        try:
            if operation == "grant":
                self._grant(connection, options["role"])
            elif operation == "check":
                self._check(connection, options["role"])
            else:
                moved = database_roles.reassign(connection, options["owner"])
                self.stdout.write(
                    self.style.SUCCESS(
                        f"Base et {len(moved)} objets transférés à « {options['owner']} ». "
                        f"Lancez maintenant « database_roles grant RÔLE_D_EXÉCUTION » en tant que ce rôle."
                    )
                )
        except database_roles.RoleError as exc:
            raise CommandError(f"Rôles de la base : {exc}.") from exc

    def _grant(self, connection, role: str) -> None:
        result = database_roles.grant(connection, role)
        counts: dict[tuple[str, ...], int] = {}
        for privileges in result.tables.values():
            counts[privileges] = counts.get(privileges, 0) + 1
        heads = counts.get(database_roles.HEAD, 0)
        ordinary = counts.get(database_roles.ORDINARY, 0)
        self.stdout.write(
            self.style.SUCCESS(
                f"Rôle « {role} » : SELECT, INSERT seulement sur {len(result.append_only)} tables "
                f"en ajout seul ({', '.join(result.append_only)}) ; "
                f"SELECT, INSERT, UPDATE sur {heads} tables de tête ; "
                f"SELECT, INSERT, UPDATE, DELETE sur {ordinary} autres tables ; ni TRUNCATE, ni CREATE, "
                "ni propriété."
            )
        )

    def _check(self, connection, role: str | None) -> None:
        found = database_roles.problems(connection, role)
        if found:
            raise database_roles.RoleError("\n".join(problem.message for problem in found))
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            (current,) = cursor.fetchone()
        self.stdout.write(
            self.style.SUCCESS(
                f"Rôle « {role or current} » : ne possède rien, ne peut ni modifier ni supprimer "
                "les tables en ajout seul, ne peut rien créer."
            )
        )
