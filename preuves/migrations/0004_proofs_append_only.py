"""The evidence tables refuse UPDATE and DELETE at the database level, as the journal does
(0002): the log's leaves and subtree hashes, the checkpoints and the timestamp tokens.

Only the two lock rows (LogHead, CheckpointLock) are ever updated. PostgreSQL: one trigger
function, reused by 0002's pattern; SQLite: RAISE(ABORT) triggers.
"""

from django.db import migrations

TABLES = ["preuves_logleaf", "preuves_lognode", "preuves_checkpoint", "preuves_timestamptoken"]

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION preuves_evidence_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'preuve en ajout seul : % interdit sur %', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
"""


def _pg_forward(table):
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION preuves_evidence_append_only();",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        "FOR EACH ROW EXECUTE FUNCTION preuves_evidence_append_only();",
        f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
        "FOR EACH STATEMENT EXECUTE FUNCTION preuves_evidence_append_only();",
    ]


def _pg_backward(table):
    return [f"DROP TRIGGER IF EXISTS {table}_no_{op} ON {table};" for op in ("update", "delete", "truncate")]


SQLITE_FORWARD = [
    f"""CREATE TRIGGER {table}_no_{op} BEFORE {op.upper()} ON {table}
    BEGIN SELECT RAISE(ABORT, 'preuve en ajout seul : {op.upper()} interdit sur {table}'); END;"""
    for table in TABLES
    for op in ("update", "delete")
]
SQLITE_BACKWARD = [f"DROP TRIGGER IF EXISTS {table}_no_{op};" for table in TABLES for op in ("update", "delete")]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION, params=None)
        for table in TABLES:
            for statement in _pg_forward(table):
                schema_editor.execute(statement, params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        for table in TABLES:
            for statement in _pg_backward(table):
                schema_editor.execute(statement, params=None)
        schema_editor.execute("DROP FUNCTION IF EXISTS preuves_evidence_append_only();", params=None)
    elif vendor == "sqlite":
        for statement in SQLITE_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("preuves", "0003_proofs")]

    operations = [migrations.RunPython(forward, backward)]
