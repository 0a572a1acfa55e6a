"""Database roles in production (PostgreSQL): an owner that migrates, a runtime role that
owns nothing.

The append-only triggers (migrations preuves/0002 and 0004) refuse UPDATE, DELETE and
TRUNCATE, but a table's owner may `ALTER TABLE … DISABLE TRIGGER`, drop the trigger or
replace its function. So the tables, their sequences and the trigger functions belong to an
owner role that only `migrate` uses; web processes and Celery connect as a runtime role
that `grant()` gives exactly what the platform does:

- append-only tables: SELECT, INSERT;
- single-row head and lock tables: SELECT, INSERT, UPDATE (their own triggers say which
  updates they accept);
- `django_migrations`: SELECT (the application reads the migration state, never writes it);
- every other table: SELECT, INSERT, UPDATE, DELETE;
- sequences: USAGE, SELECT; the schema: USAGE, never CREATE.

Never TRUNCATE, REFERENCES or TRIGGER, nor ownership of anything. Which tables are
append-only: preuves' own (below), those named by the setting `DATABASE_APPEND_ONLY_TABLES`,
and any table of the schema guarded by a trigger whose function's name ends in
`append_only` (the convention of the migrations), so another app's append-only table is
found without preuves importing that app. A head table keeps UPDATE whatever its triggers.

`grant()` is idempotent: it revokes what the role held on the schema's tables and sequences,
then grants again, in one transaction, and fails unless `problems()` then finds nothing. Its
default privileges give a table that a later migration creates SELECT and INSERT only, until
the next `grant()` has classified it: fail closed. `problems()` is also what the deployment
check `preuves.W002` and `manage.py database_roles check` report.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from .models import (
    Checkpoint,
    CheckpointLock,
    Cosignature,
    JournalEntry,
    JournalHead,
    LogHead,
    LogLeaf,
    LogNode,
    TimestampToken,
    WitnessedLog,
)

APPEND_ONLY_MODELS = (JournalEntry, LogLeaf, LogNode, Checkpoint, TimestampToken, Cosignature)
# Updated in place, only forward (migration 0006's triggers): a witness's record included.
HEAD_MODELS = (JournalHead, LogHead, CheckpointLock, WitnessedLog)
READ_ONLY_TABLES = ("django_migrations",)
APPEND_ONLY_FUNCTION_SUFFIX = "append_only"

APPEND = ("SELECT", "INSERT")
HEAD = ("SELECT", "INSERT", "UPDATE")
READ = ("SELECT",)
ORDINARY = ("SELECT", "INSERT", "UPDATE", "DELETE")
FORBIDDEN_ON_APPEND_ONLY = ("UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
FORBIDDEN_EVERYWHERE = ("TRUNCATE", "REFERENCES", "TRIGGER")


class RoleError(Exception):
    """The role cannot be made a runtime role; the message says why, in French."""


def declared_append_only() -> set[str]:
    return {model._meta.db_table for model in APPEND_ONLY_MODELS} | set(
        getattr(settings, "DATABASE_APPEND_ONLY_TABLES", ())
    )


def head_tables() -> set[str]:
    return {model._meta.db_table for model in HEAD_MODELS}


def _require_postgresql(connection: BaseDatabaseWrapper) -> None:
    if connection.vendor != "postgresql":
        raise RoleError(
            f"les rôles de base de données ne concernent que PostgreSQL (base « {connection.alias} » : "
            f"{connection.vendor}) ; sur SQLite, quiconque peut écrire le fichier peut tout réécrire"
        )


def _tables(cursor) -> dict[str, str]:
    """Tables and views of the current schema: name → relkind."""
    cursor.execute(
        """
        SELECT c.relname, c.relkind FROM pg_class c
        WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
        """
    )
    return dict(cursor.fetchall())


def _catalog_append_only(cursor) -> set[str]:
    """Tables guarded by a user trigger whose function is named *append_only."""
    cursor.execute(
        """
        SELECT DISTINCT c.relname FROM pg_trigger t
        JOIN pg_class c ON c.oid = t.tgrelid
        JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE NOT t.tgisinternal AND c.relnamespace = current_schema()::regnamespace
          AND right(p.proname, %s) = %s
        """,
        [len(APPEND_ONLY_FUNCTION_SUFFIX), APPEND_ONLY_FUNCTION_SUFFIX],
    )
    return {name for (name,) in cursor.fetchall()}


@dataclass
class Plan:
    """What each table of the schema gets: name → privileges."""

    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def append_only(self) -> list[str]:
        return sorted(name for name, privileges in self.tables.items() if privileges == APPEND)


def plan(connection: BaseDatabaseWrapper) -> Plan:
    _require_postgresql(connection)
    with connection.cursor() as cursor:
        tables = _tables(cursor)
        found = _catalog_append_only(cursor)
    declared = declared_append_only()
    missing = sorted(declared - tables.keys())
    if missing:
        raise RoleError(
            f"tables en ajout seul introuvables dans le schéma : {', '.join(missing)} "
            "(lancez d'abord « manage.py migrate »)"
        )
    heads = head_tables()
    result = Plan()
    for name, kind in sorted(tables.items()):
        if kind in ("v", "m") or name in READ_ONLY_TABLES:
            result.tables[name] = READ
        elif name in heads:
            result.tables[name] = HEAD
        elif name in declared or name in found:
            result.tables[name] = APPEND
        else:
            result.tables[name] = ORDINARY
    return result


def _quote(connection: BaseDatabaseWrapper, name: str) -> str:
    return connection.ops.quote_name(name)


def _role_exists(cursor, role: str) -> bool:
    cursor.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", [role])
    return cursor.fetchone() is not None


def grant(connection: BaseDatabaseWrapper, role: str) -> Plan:
    """Make `role` the runtime role of the current schema; run it as the tables' owner,
    after `migrate`. Raises RoleError when the role is unfit (superuser, owner…)."""
    _require_postgresql(connection)
    quoted = _quote(connection, role)
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if not _role_exists(cursor, role):
            raise RoleError(
                f"le rôle « {role} » n'existe pas : créez-le d'abord "
                f"(CREATE ROLE {quoted} LOGIN PASSWORD '…', sans autre attribut)"
            )
        cursor.execute("SELECT current_user")
        (current,) = cursor.fetchone()
        if current == role:
            raise RoleError(
                "« database_roles grant » se lance en tant que propriétaire des tables, "
                f"pas en tant que « {role} »"
            )
        unfit = [problem for problem in problems(connection, role) if problem.fatal_before_grant]
        if unfit:
            raise RoleError("; ".join(problem.message for problem in unfit))
        result = plan(connection)
        cursor.execute("SELECT current_schema()")
        (schema,) = cursor.fetchone()
        qschema = _quote(connection, schema)
        cursor.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA {qschema} FROM {quoted}")
        cursor.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA {qschema} FROM {quoted}")
        cursor.execute(f"REVOKE ALL ON SCHEMA {qschema} FROM {quoted}")
        for name, privileges in result.tables.items():
            cursor.execute(
                f"GRANT {', '.join(privileges)} ON {qschema}.{_quote(connection, name)} TO {quoted}"
            )
        cursor.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {qschema} TO {quoted}")
        cursor.execute(f"GRANT USAGE ON SCHEMA {qschema} TO {quoted}")
        # Before PostgreSQL 15 every role may create tables in `public`: not this one.
        if _public_may_create(cursor, schema):
            cursor.execute(f"REVOKE CREATE ON SCHEMA {qschema} FROM PUBLIC")
        cursor.execute("SELECT current_database()")
        (database,) = cursor.fetchone()
        cursor.execute(f"REVOKE CREATE ON DATABASE {_quote(connection, database)} FROM {quoted}")
        # Objects that later migrations create (as the journal's owner, whoever runs this)
        # start as SELECT, INSERT: the next grant classifies them.
        cursor.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = %s "
            "AND relnamespace = current_schema()::regnamespace",
            [JournalEntry._meta.db_table],
        )
        owner = _quote(connection, cursor.fetchone()[0])
        for statement in (
            f"REVOKE ALL ON TABLES FROM {quoted}",
            f"GRANT SELECT, INSERT ON TABLES TO {quoted}",
            f"REVOKE ALL ON SEQUENCES FROM {quoted}",
            f"GRANT USAGE, SELECT ON SEQUENCES TO {quoted}",
        ):
            cursor.execute(f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {qschema} {statement}")
        left = problems(connection, role, plan_=result)
        if left:
            raise RoleError("; ".join(problem.message for problem in left))
    return result


def _public_may_create(cursor, schema: str) -> bool:
    cursor.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM pg_namespace n, aclexplode(coalesce(n.nspacl, acldefault('n', n.nspowner))) a
            WHERE n.nspname = %s AND a.grantee = 0 AND a.privilege_type = 'CREATE'
        )
        """,
        [schema],
    )
    return cursor.fetchone()[0]


@dataclass(frozen=True)
class Problem:
    message: str
    # True when grant() cannot repair it (attributes and ownership are the owner's business).
    fatal_before_grant: bool = False


def problems(
    connection: BaseDatabaseWrapper, role: str | None = None, *, plan_: Plan | None = None
) -> list[Problem]:
    """What lets `role` (default: the connection's own role) rewrite history: superuser,
    ownership (or membership of an owner), forbidden privileges, CREATE in the schema or
    the database. Empty when it is a proper runtime role."""
    _require_postgresql(connection)
    found: list[Problem] = []
    with connection.cursor() as cursor:
        if role is None:
            cursor.execute("SELECT current_user")
            (role,) = cursor.fetchone()
        cursor.execute(
            "SELECT rolsuper, rolcreaterole, rolbypassrls FROM pg_roles WHERE rolname = %s", [role]
        )
        row = cursor.fetchone()
        if row is None:
            return [Problem(f"le rôle « {role} » n'existe pas", fatal_before_grant=True)]
        superuser, createrole, bypassrls = row
        if superuser:
            found.append(
                Problem(
                    f"le rôle « {role} » est superutilisateur : il peut désactiver les déclencheurs "
                    "et réécrire le journal",
                    fatal_before_grant=True,
                )
            )
            return found
        if createrole:
            found.append(
                Problem(
                    f"le rôle « {role} » a l'attribut CREATEROLE : "
                    "il peut se donner les droits d'un autre rôle",
                    fatal_before_grant=True,
                )
            )
        if bypassrls:
            found.append(Problem(f"le rôle « {role} » a l'attribut BYPASSRLS", fatal_before_grant=True))
        owned = _owned(cursor, role)
        if owned:
            shown = ", ".join(owned[:5]) + (f" et {len(owned) - 5} autres" if len(owned) > 5 else "")
            found.append(
                Problem(
                    f"le rôle « {role} » possède (lui-même ou par un rôle dont il est membre) : {shown} ; "
                    "il peut en désactiver ou en supprimer les déclencheurs",
                    fatal_before_grant=True,
                )
            )
            return found  # an owner holds every privilege: nothing more to list
        cursor.execute(
            """
            SELECT has_schema_privilege(%s, current_schema(), 'CREATE'),
                   has_database_privilege(%s, current_database(), 'CREATE')
            """,
            [role, role],
        )
        schema_create, database_create = cursor.fetchone()
        if schema_create:
            found.append(Problem(f"le rôle « {role} » peut créer des objets dans le schéma (CREATE)"))
        if database_create:
            found.append(Problem(f"le rôle « {role} » peut créer des schémas dans la base (CREATE)"))
        if plan_ is None:
            try:
                plan_ = plan(connection)
            except RoleError:
                plan_ = Plan()
        for table in sorted(set(plan_.append_only) | (declared_append_only() & set(plan_.tables))):
            held = _held(cursor, role, table, FORBIDDEN_ON_APPEND_ONLY)
            if held:
                found.append(
                    Problem(f"le rôle « {role} » a {', '.join(held)} sur la table en ajout seul {table}")
                )
        for table, privileges in plan_.tables.items():
            if privileges == APPEND:
                continue
            forbidden = [p for p in ("UPDATE", "DELETE", *FORBIDDEN_EVERYWHERE) if p not in privileges]
            held = _held(cursor, role, table, tuple(forbidden))
            if held:
                found.append(Problem(f"le rôle « {role} » a {', '.join(held)} sur {table}"))
    return found


# Column privileges count too: a role with UPDATE on one column can rewrite that column.
COLUMN_PRIVILEGES = {"SELECT", "INSERT", "UPDATE", "REFERENCES"}


def _held(cursor, role: str, table: str, privileges: tuple[str, ...]) -> list[str]:
    if not privileges:
        return []
    functions = [
        "has_any_column_privilege" if privilege in COLUMN_PRIVILEGES else "has_table_privilege"
        for privilege in privileges
    ]
    checks = ", ".join(f"{function}(%s, c.oid, %s)" for function in functions)
    params: list[str] = []
    for privilege in privileges:
        params += [role, privilege]
    cursor.execute(
        f"SELECT {checks} FROM pg_class c "  # noqa: S608
        "WHERE c.relname = %s AND c.relnamespace = current_schema()::regnamespace",
        [*params, table],
    )
    row = cursor.fetchone()
    if row is None:
        return []
    return [privilege for privilege, held in zip(privileges, row, strict=True) if held]


def _owned(cursor, role: str) -> list[str]:
    """Objects of the current database owned by `role` or by a role it belongs to: the
    database itself, the schema, and the relations and functions of the schema."""
    cursor.execute(
        """
        SELECT 'la base ' || d.datname FROM pg_database d
            WHERE d.datname = current_database() AND pg_has_role(%(role)s, d.datdba, 'MEMBER')
        UNION ALL
        SELECT 'le schéma ' || n.nspname FROM pg_namespace n
            WHERE n.oid = current_schema()::regnamespace AND pg_has_role(%(role)s, n.nspowner, 'MEMBER')
        UNION ALL
        (SELECT c.relname FROM pg_class c
            WHERE c.relnamespace = current_schema()::regnamespace
              AND c.relkind IN ('r', 'p', 'v', 'm', 'S') AND pg_has_role(%(role)s, c.relowner, 'MEMBER')
            ORDER BY c.relname)
        UNION ALL
        (SELECT p.proname || '()' FROM pg_proc p
            WHERE p.pronamespace = current_schema()::regnamespace
              AND pg_has_role(%(role)s, p.proowner, 'MEMBER')
            ORDER BY p.proname)
        """,
        {"role": role},
    )
    names = [name for (name,) in cursor.fetchall()]
    # The append-only tables first: they are what the message is about.
    first = [name for name in names if name in declared_append_only()]
    return [*first, *(name for name in names if name not in first)]


def reassign(connection: BaseDatabaseWrapper, owner: str) -> list[str]:
    """Give `owner` the current database and everything of its schema that the platform
    created: tables, views, sequences, functions. For a deployment whose application used to
    connect as the owner; run it once as a superuser, then `grant()` as `owner`."""
    _require_postgresql(connection)
    quoted = _quote(connection, owner)
    moved: list[str] = []
    with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
        if not _role_exists(cursor, owner):
            raise RoleError(
                f"le rôle « {owner} » n'existe pas : "
                f"créez-le d'abord (CREATE ROLE {quoted} LOGIN PASSWORD '…')"
            )
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", [owner])
        if cursor.fetchone()[0]:
            raise RoleError(f"le rôle « {owner} » est superutilisateur : choisissez un rôle ordinaire")
        cursor.execute("SELECT current_database()")
        (database,) = cursor.fetchone()
        cursor.execute(f"ALTER DATABASE {_quote(connection, database)} OWNER TO {quoted}")
        # Sequences owned by a column follow their table; views and tables take ALTER TABLE.
        cursor.execute(
            """
            SELECT c.relname, c.relkind FROM pg_class c
            WHERE c.relnamespace = current_schema()::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
              AND NOT (c.relkind = 'S' AND EXISTS (
                  SELECT 1 FROM pg_depend d WHERE d.objid = c.oid AND d.classid = 'pg_class'::regclass
                    AND d.deptype IN ('a', 'i')))
              AND NOT pg_has_role(%s, c.relowner, 'USAGE')
            ORDER BY c.relname
            """,
            [owner],
        )
        keyword = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW", "S": "SEQUENCE"}
        for name, kind in cursor.fetchall():
            cursor.execute(f"ALTER {keyword[kind]} {_quote(connection, name)} OWNER TO {quoted}")
            moved.append(name)
        cursor.execute(
            """
            SELECT p.oid::regprocedure::text FROM pg_proc p
            WHERE p.pronamespace = current_schema()::regnamespace AND NOT pg_has_role(%s, p.proowner, 'USAGE')
            ORDER BY 1
            """,
            [owner],
        )
        for (signature,) in cursor.fetchall():
            cursor.execute(f"ALTER ROUTINE {signature} OWNER TO {quoted}")
            moved.append(signature)
    return moved
