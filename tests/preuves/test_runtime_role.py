"""The runtime role owns nothing (issue 11, finding 1), on PostgreSQL.

The attack that worked while the application connected as the tables' owner:
`ALTER TABLE preuves_journalentry DISABLE TRIGGER USER` (and on preuves_logleaf), edit an
entry, recompute the later hashes, move the head, rewrite the anchor leaf, re-enable the
triggers. Here the test database is set up as the stack sets up production: an owner role
that owns the database and every table (`database_roles reassign`, as docker's init script
and migrate do), and a runtime role given its privileges by `database_roles grant`, run as
that owner. Connected as the runtime role (a login of its own), the platform's writes work
and each step of the rewrite is refused by PostgreSQL's privileges, not by the triggers.

Roles are cluster-wide: unique names (prefix roles_test_), dropped at teardown, and the
tables handed back to the user that created the test database.
"""

import secrets
from dataclasses import dataclass

import psycopg
import pytest
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.db.utils import ConnectionHandler

from marches import services
from preuves import anchoring, audit, checks, database_roles, journal
from preuves.models import JournalEntry, JournalHead, LogLeaf
from tests.factories import MembershipFactory
from tests.marches.test_services import publishable
from tests.offres import builders

ON_POSTGRESQL = connection.vendor == "postgresql"
needs_postgresql = pytest.mark.skipif(
    not ON_POSTGRESQL,
    reason="database roles exist on PostgreSQL only (set DATABASE_URL=postgres://…; CI runs PostgreSQL)",
)

APPEND_ONLY = [
    "preuves_journalentry",
    "preuves_logleaf",
    "preuves_lognode",
    "preuves_checkpoint",
    "preuves_timestamptoken",
]
HEADS = ["preuves_journalhead", "preuves_loghead", "preuves_checkpointlock"]
INSUFFICIENT_PRIVILEGE = "42501"
# Each append-only table's triggers, whether enabled, and the source of their functions.
TRIGGERS = """
    SELECT c.relname, t.tgname, t.tgenabled, p.prosrc FROM pg_trigger t
    JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
    WHERE NOT t.tgisinternal AND c.relname = ANY(%s) ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Roles:
    owner: str
    runtime: str
    password: str


@pytest.fixture(scope="module")
def roles(django_db_setup, django_db_blocker):
    suffix = secrets.token_hex(4)
    made = Roles(f"roles_test_owner_{suffix}", f"roles_test_app_{suffix}", secrets.token_urlsafe(18))
    with django_db_blocker.unblock():
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            (creator,) = cursor.fetchone()
            cursor.execute(f"CREATE ROLE {made.owner} NOLOGIN")
            # As docker/postgres-init/10-roles.sh creates it.
            cursor.execute(
                f"CREATE ROLE {made.runtime} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE "
                f"PASSWORD '{made.password}'"
            )
        try:
            call_command("database_roles", "reassign", made.owner)
            as_owner(made, "grant", made.runtime)
            yield made
        finally:
            connection.close()
            with connection.cursor() as cursor:
                cursor.execute(f"REASSIGN OWNED BY {made.owner} TO {creator}")
                # One at a time: the owner's default privileges name the runtime role.
                cursor.execute(f"DROP OWNED BY {made.runtime}")
                cursor.execute(f"DROP OWNED BY {made.owner}")
                cursor.execute(f"DROP ROLE {made.runtime}")
                cursor.execute(f"DROP ROLE {made.owner}")


def as_owner(made: Roles, *args: str) -> None:
    """`manage.py database_roles ARGS` run by the owner role (a superuser may become it)."""
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {made.owner}")
    try:
        call_command("database_roles", *args)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def runtime_login(made: Roles) -> psycopg.Connection:
    """A connection of its own to the test database, logged in as the runtime role."""
    params = connection.settings_dict
    return psycopg.connect(
        dbname=params["NAME"],
        host=params["HOST"] or None,
        port=params["PORT"] or None,
        user=made.runtime,
        password=made.password,
        autocommit=True,
    )


class platform_as(object):  # noqa: N801, UP004  (a context manager read as a sentence)
    """Django's own connection logged in as the runtime role, as web and worker are."""

    def __init__(self, made: Roles) -> None:
        self.made = made

    def __enter__(self):
        self.saved = {key: connection.settings_dict[key] for key in ("USER", "PASSWORD")}
        connection.close()
        connection.settings_dict.update(USER=self.made.runtime, PASSWORD=self.made.password)
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, session_user")
            assert cursor.fetchone() == (self.made.runtime, self.made.runtime)

    def __exit__(self, *exc) -> None:
        connection.close()
        connection.settings_dict.update(self.saved)


def privileges(cursor, role: str, table: str) -> set[str]:
    every = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER"]
    cursor.execute(
        "SELECT " + ", ".join("has_table_privilege(%s, %s, %s)" for _ in every),
        [value for privilege in every for value in (role, table, privilege)],
    )
    return {privilege for privilege, held in zip(every, cursor.fetchone(), strict=True) if held}


def history() -> LogLeaf:
    """What the platform writes: journal entries, then an anchor (timestamp token, leaf,
    subtree hashes, signed checkpoint), through its own code."""
    for i in range(3):
        journal.record("roles.test", payload={"i": i})
    leaf = anchoring.anchor_journal()
    assert leaf is not None
    return leaf


def consultation_and_deposit():
    """Accounts, a consultation published with its opening keys, and a deposit received
    (timestamped and logged), through the services."""
    agent = MembershipFactory(buyer_agent=True, user__totp=True)
    draft, _ = publishable(agent)
    consultation = services.consultation_publish(consultation=draft, published_by=agent.user)
    bidder = MembershipFactory(company_admin=True)
    ciphertext = builders.encrypt_to(consultation, "offer", b"offre")
    return builders.receive(consultation, bidder.user, [("offer", "offre.pdf.age", ciphertext)])


@needs_postgresql
@pytest.mark.django_db
def test_grant_gives_select_insert_only_on_the_append_only_tables(roles):
    with connection.cursor() as cursor:
        for table in APPEND_ONLY:
            assert privileges(cursor, roles.runtime, table) == {"SELECT", "INSERT"}, table
        for table in HEADS:
            assert privileges(cursor, roles.runtime, table) == {"SELECT", "INSERT", "UPDATE"}, table
        assert privileges(cursor, roles.runtime, "comptes_user") == {"SELECT", "INSERT", "UPDATE", "DELETE"}
        assert privileges(cursor, roles.runtime, "django_migrations") == {"SELECT"}
        cursor.execute(
            "SELECT has_schema_privilege(%s, 'public', 'CREATE'), "
            "has_database_privilege(%s, current_database(), 'CREATE')",
            [roles.runtime, roles.runtime],
        )
        assert cursor.fetchone() == (False, False)
    assert database_roles.problems(connection, roles.runtime) == []
    call_command("database_roles", "check", roles.runtime)
    # The owner and the superuser are named for what they could do.
    owner = [problem.message for problem in database_roles.problems(connection, roles.owner)]
    assert len(owner) == 1
    assert "possède" in owner[0]
    assert "preuves_journalentry" in owner[0]
    with pytest.raises(CommandError, match="superutilisateur"):
        call_command("database_roles", "check")


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_platform_writes_and_verifies_as_the_runtime_role(roles):
    with platform_as(roles):
        deposit = consultation_and_deposit()
        leaf = history()
        session = SessionStore()
        session["k"] = 1
        session.save()  # INSERT
        session["k"] = 2
        session.save()  # UPDATE
        session.delete()  # DELETE, on an ordinary table
        assert journal.verify().ok
        assert audit.verify_all().ok
        # And the deployment check has nothing to say about this role.
        assert checks.database_role(None, databases=["default"]) == []
    assert JournalHead.objects.get().seq == JournalEntry.objects.count()
    assert LogLeaf.objects.filter(index=deposit.log_index).exists()
    assert LogLeaf.objects.filter(index=leaf.index).exists()


# The rewrite of issue 11, step by step, then what else an owner could do to the same end.
REWRITE = [
    "ALTER TABLE preuves_journalentry DISABLE TRIGGER USER",
    "ALTER TABLE preuves_logleaf DISABLE TRIGGER USER",
    "ALTER TABLE preuves_journalentry DISABLE TRIGGER preuves_journal_no_update",
    "UPDATE preuves_journalentry SET payload = '{\"i\": 99}' WHERE seq = 2",
    "UPDATE preuves_journalentry SET hash = prev_hash WHERE seq >= 2",
    "UPDATE preuves_logleaf SET data = data || ' '::bytea WHERE index = {leaf}",
    "ALTER TABLE preuves_journalentry ENABLE TRIGGER USER",
    *(f"DELETE FROM {table}" for table in APPEND_ONLY),
    *(f"TRUNCATE {table}" for table in APPEND_ONLY),
    "UPDATE preuves_lognode SET hash = hash",
    "UPDATE preuves_checkpoint SET note = note",
    "UPDATE preuves_timestamptoken SET response = response",
    "DELETE FROM preuves_journalhead",
    "TRUNCATE preuves_journalhead",
    "DROP TRIGGER preuves_journal_no_update ON preuves_journalentry",
    "DROP TRIGGER preuves_logleaf_no_update ON preuves_logleaf",
    (
        "CREATE OR REPLACE FUNCTION preuves_journal_append_only() RETURNS trigger "
        "AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql"
    ),
    "ALTER FUNCTION preuves_evidence_append_only() RENAME TO roles_test_gone",
    (
        "CREATE TRIGGER roles_test_t BEFORE INSERT ON preuves_journalentry "
        "FOR EACH ROW EXECUTE FUNCTION preuves_journal_append_only()"
    ),
    "ALTER TABLE preuves_journalentry OWNER TO CURRENT_USER",
    "ALTER TABLE preuves_journalentry RENAME TO roles_test_old",
    "DROP TABLE preuves_journalentry",
    "CREATE TABLE roles_test_copy (id int)",
    "CREATE TABLE roles_test_copy AS SELECT * FROM preuves_journalentry",
    "CREATE SCHEMA roles_test_schema",
    "SET ROLE {owner}",
]


@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_the_rewrite_is_refused_at_each_step(roles):
    with platform_as(roles):
        leaf = history()
    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM preuves_journalentry ORDER BY seq")
        entries_before = cursor.fetchall()
        cursor.execute("SELECT index, data FROM preuves_logleaf ORDER BY index")
        leaves_before = cursor.fetchall()
        cursor.execute(TRIGGERS, [APPEND_ONLY])
        triggers_before = cursor.fetchall()
    assert len(triggers_before) >= 3 * len(APPEND_ONLY)

    refused = []
    with runtime_login(roles) as attacker:
        for statement in REWRITE:
            sql = statement.replace("{leaf}", str(leaf.index)).replace("{owner}", roles.owner)
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                attacker.execute(sql)
            # Refused by the privileges; the append-only triggers speak of « ajout seul ».
            assert caught.value.sqlstate == INSUFFICIENT_PRIVILEGE
            assert "ajout seul" not in str(caught.value), sql
            refused.append(sql)
    assert len(refused) == len(REWRITE)

    with connection.cursor() as cursor:
        cursor.execute("SELECT seq, hash FROM preuves_journalentry ORDER BY seq")
        assert cursor.fetchall() == entries_before
        cursor.execute("SELECT index, data FROM preuves_logleaf ORDER BY index")
        assert cursor.fetchall() == leaves_before
        cursor.execute(TRIGGERS, [APPEND_ONLY])
        assert cursor.fetchall() == triggers_before
    assert journal.verify().ok
    assert audit.verify_all().ok


@needs_postgresql
@pytest.mark.django_db
def test_the_same_rewrite_works_for_the_owner(roles):
    """The statements above are the real attack: the owner role, which the application used
    to connect as, gets through the first steps (the triggers would stop the rest only
    because they are still on)."""
    history()
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {roles.owner}")
        cursor.execute(REWRITE[0])
        cursor.execute(REWRITE[1])
        cursor.execute(REWRITE[3])
        assert cursor.rowcount == 1
        cursor.execute(REWRITE[6])
        cursor.execute("RESET ROLE")
    assert not journal.verify().ok


@needs_postgresql
@pytest.mark.django_db
def test_grant_is_idempotent_and_classifies_new_tables(roles, settings):
    def snapshot(cursor):
        cursor.execute(
            "SELECT table_name, privilege_type FROM information_schema.role_table_grants "
            "WHERE grantee = %s ORDER BY 1, 2",
            [roles.runtime],
        )
        return cursor.fetchall()

    with connection.cursor() as cursor:
        before = snapshot(cursor)
        as_owner(roles, "grant", roles.runtime)
        assert snapshot(cursor) == before

        cursor.execute(f"SET ROLE {roles.owner}")
        # Another app's append-only table, found by its trigger's function name.
        cursor.execute("CREATE TABLE roles_test_ledger (id int)")
        cursor.execute(
            "CREATE FUNCTION roles_test_ledger_append_only() RETURNS trigger AS $$ BEGIN "
            "RAISE EXCEPTION 'en ajout seul'; END $$ LANGUAGE plpgsql"
        )
        cursor.execute(
            "CREATE TRIGGER roles_test_ledger_no_delete BEFORE DELETE ON roles_test_ledger "
            "FOR EACH ROW EXECUTE FUNCTION roles_test_ledger_append_only()"
        )
        # A table a later migration creates: readable and appendable, not modifiable, until
        # grant classifies it (default privileges).
        cursor.execute("CREATE TABLE roles_test_later (id int)")
        cursor.execute("CREATE TABLE roles_test_declared (id int)")
        cursor.execute("RESET ROLE")
        assert privileges(cursor, roles.runtime, "roles_test_later") == {"SELECT", "INSERT"}

        settings.DATABASE_APPEND_ONLY_TABLES = ["roles_test_declared"]
        as_owner(roles, "grant", roles.runtime)
        assert privileges(cursor, roles.runtime, "roles_test_ledger") == {"SELECT", "INSERT"}
        assert privileges(cursor, roles.runtime, "roles_test_declared") == {"SELECT", "INSERT"}
        assert privileges(cursor, roles.runtime, "roles_test_later") == {
            "SELECT",
            "INSERT",
            "UPDATE",
            "DELETE",
        }
        # A privilege granted by hand on an append-only table is taken back.
        cursor.execute(f"GRANT UPDATE (payload) ON preuves_journalentry TO {roles.runtime}")
        assert any(
            "preuves_journalentry" in p.message for p in database_roles.problems(connection, roles.runtime)
        )
        as_owner(roles, "grant", roles.runtime)
        assert database_roles.problems(connection, roles.runtime) == []


@needs_postgresql
@pytest.mark.django_db
def test_grant_refuses_a_role_that_could_rewrite_history(roles):
    with pytest.raises(CommandError, match="possède"):
        call_command("database_roles", "grant", roles.owner)
    with pytest.raises(CommandError, match="en tant que propriétaire des tables"):
        as_owner(roles, "grant", roles.owner)
    with connection.cursor() as cursor:
        cursor.execute("SELECT current_user")
        (superuser,) = cursor.fetchone()
    with pytest.raises(CommandError, match="superutilisateur"):
        as_owner(roles, "grant", superuser)
    with pytest.raises(CommandError, match="n'existe pas"):
        as_owner(roles, "grant", "roles_test_nobody")


@needs_postgresql
@pytest.mark.django_db
def test_deploy_check_warns_when_connected_as_owner_or_superuser(roles):
    warnings = checks.database_role(None, databases=["default"])
    assert [w.id for w in warnings] == ["preuves.W002"]
    assert "superutilisateur" in warnings[0].msg
    with connection.cursor() as cursor:
        cursor.execute(f"SET LOCAL ROLE {roles.owner}")
        warnings = checks.database_role(None, databases=["default"])
        assert [w.id for w in warnings] == ["preuves.W002"]
        assert "possède" in warnings[0].msg
        cursor.execute(f"SET LOCAL ROLE {roles.runtime}")
        assert checks.database_role(None, databases=["default"]) == []
        cursor.execute("RESET ROLE")
    # Only when asked to look at a database (check --deploy --database default).
    assert checks.database_role(None) == []


def test_roles_are_refused_on_sqlite():
    sqlite = ConnectionHandler({"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}})
    with pytest.raises(database_roles.RoleError, match="que PostgreSQL"):
        database_roles.grant(sqlite["default"], "roles_test_app")
