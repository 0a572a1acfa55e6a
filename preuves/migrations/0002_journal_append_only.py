"""The journal table refuses UPDATE and DELETE at the database level.

PostgreSQL (production, CI): a trigger function raises. SQLite (embedded default): triggers
with RAISE(ABORT). The application never offers either operation; this makes the promise
hold against a bug or a careless shell too.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION preuves_journal_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'journal en ajout seul : % interdit sur preuves_journalentry', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER preuves_journal_no_update BEFORE UPDATE ON preuves_journalentry
    FOR EACH ROW EXECUTE FUNCTION preuves_journal_append_only();
CREATE TRIGGER preuves_journal_no_delete BEFORE DELETE ON preuves_journalentry
    FOR EACH ROW EXECUTE FUNCTION preuves_journal_append_only();
CREATE TRIGGER preuves_journal_no_truncate BEFORE TRUNCATE ON preuves_journalentry
    FOR EACH STATEMENT EXECUTE FUNCTION preuves_journal_append_only();
"""
PG_BACKWARD = """
DROP TRIGGER IF EXISTS preuves_journal_no_update ON preuves_journalentry;
DROP TRIGGER IF EXISTS preuves_journal_no_delete ON preuves_journalentry;
DROP TRIGGER IF EXISTS preuves_journal_no_truncate ON preuves_journalentry;
DROP FUNCTION IF EXISTS preuves_journal_append_only();
"""
SQLITE_FORWARD = [
    """CREATE TRIGGER preuves_journal_no_update BEFORE UPDATE ON preuves_journalentry
    BEGIN SELECT RAISE(ABORT, 'journal en ajout seul : UPDATE interdit sur preuves_journalentry'); END;""",
    """CREATE TRIGGER preuves_journal_no_delete BEFORE DELETE ON preuves_journalentry
    BEGIN SELECT RAISE(ABORT, 'journal en ajout seul : DELETE interdit sur preuves_journalentry'); END;""",
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS preuves_journal_no_update;",
    "DROP TRIGGER IF EXISTS preuves_journal_no_delete;",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("preuves", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
