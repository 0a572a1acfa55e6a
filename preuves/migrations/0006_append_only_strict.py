"""Append-only, without the side doors that 0002 and 0004 left open.

- SQLite: `INSERT OR REPLACE`, `REPLACE` and an UPSERT delete or update the existing row
  without firing the DELETE trigger (SQLite fires it only under `recursive_triggers`). A
  BEFORE INSERT trigger on every append-only table now refuses any insert that would meet an
  existing row on its primary key or one of its unique keys, which is the only way a
  conflict clause can act; an UPSERT's DO UPDATE meets the UPDATE trigger as before.
- The cosignatures (0005) are append-only like the checkpoints they countersign.
- The two heads are the only rows the platform updates, and now only forward: the journal's
  head must name an entry that exists with that number and that hash, and never go back;
  the log's head never shrinks and its size must match its leaves. Neither can be deleted.
  A witness's record of another log only grows too (C2SP tlog-witness: rolling it back would
  let the witness cosign a fork).

On PostgreSQL the runtime role is also denied UPDATE, DELETE and TRUNCATE on the append-only
tables (preuves/database_roles.py); these triggers hold against the owner's careless shell,
the grants against the web process.
"""

from django.db import migrations

APPEND_ONLY = {
    "preuves_journalentry": ["id", "seq", "hash"],
    "preuves_logleaf": ["id", '"index"'],
    "preuves_lognode": ["key"],
    "preuves_checkpoint": ["id", "size", "timestamp_id"],
    "preuves_timestamptoken": ["id", "response_sha256"],
    "preuves_cosignature": ["id", ("checkpoint_id", "witness", "key_id")],
}
HEADS = {"preuves_journalhead": ["id"], "preuves_loghead": ["id"], "preuves_witnessedlog": ["id", "origin"]}
# Every table whose rows this migration guards (the test harness lifts them around its flush).
TABLES = [*APPEND_ONLY, *HEADS]
NEW_APPEND_ONLY = ["preuves_cosignature"]


def _conflict(table: str, keys: list) -> str:
    """SQL true when NEW meets an existing row on one of `keys` (a column or a tuple)."""
    tests = []
    for key in keys:
        columns = key if isinstance(key, tuple) else (key,)
        tests.append(" AND ".join(f"{column} = NEW.{column}" for column in columns))
    where = " OR ".join(f"({test})" for test in tests)
    return f"EXISTS (SELECT 1 FROM {table} WHERE {where})"


def _sqlite_no_replace(table: str, keys: list) -> str:
    return (
        f"CREATE TRIGGER {table}_no_replace BEFORE INSERT ON {table} WHEN {_conflict(table, keys)} "
        f"BEGIN SELECT RAISE(ABORT, 'preuve en ajout seul : remplacement interdit sur {table}'); END;"
    )


JOURNAL_HEAD_RULE = (
    "NEW.id = OLD.id AND NEW.seq >= OLD.seq AND (NEW.seq = 0 OR EXISTS "
    "(SELECT 1 FROM preuves_journalentry WHERE seq = NEW.seq AND hash = NEW.hash))"
)
LOG_HEAD_RULE = (
    "NEW.id = OLD.id AND NEW.size >= OLD.size "
    "AND (NEW.size > OLD.size OR NEW.root_hash = OLD.root_hash) "
    'AND (NEW.size = 0 OR EXISTS (SELECT 1 FROM preuves_logleaf WHERE "index" = NEW.size - 1)) '
    'AND NOT EXISTS (SELECT 1 FROM preuves_logleaf WHERE "index" >= NEW.size)'
)
WITNESSED_RULE = (
    "NEW.id = OLD.id AND NEW.origin = OLD.origin AND NEW.size >= OLD.size "
    "AND (NEW.size > OLD.size OR NEW.root_hash = OLD.root_hash)"
)
HEAD_RULES = {
    "preuves_journalhead": JOURNAL_HEAD_RULE,
    "preuves_loghead": LOG_HEAD_RULE,
    "preuves_witnessedlog": WITNESSED_RULE,
}

SQLITE_FORWARD = [
    *(_sqlite_no_replace(table, keys) for table, keys in {**APPEND_ONLY, **HEADS}.items()),
    *(
        f"""CREATE TRIGGER {table}_no_{op} BEFORE {op.upper()} ON {table}
        BEGIN SELECT RAISE(ABORT, 'preuve en ajout seul : {op.upper()} interdit sur {table}'); END;"""
        for table in NEW_APPEND_ONLY
        for op in ("update", "delete")
    ),
    *(
        f"""CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table}
        BEGIN SELECT RAISE(ABORT, 'tête en avant seulement : DELETE interdit sur {table}'); END;"""
        for table in HEADS
    ),
    *(
        f"""CREATE TRIGGER {table}_forward BEFORE UPDATE ON {table} WHEN NOT ({rule})
        BEGIN SELECT RAISE(ABORT, 'tête en avant seulement : retour en arrière ou tête sans entrée sur {table}'); END;"""
        for table, rule in HEAD_RULES.items()
    ),
]
SQLITE_BACKWARD = [
    *(f"DROP TRIGGER IF EXISTS {table}_no_replace;" for table in TABLES),
    *(f"DROP TRIGGER IF EXISTS {table}_no_{op};" for table in NEW_APPEND_ONLY for op in ("update", "delete")),
    *(f"DROP TRIGGER IF EXISTS {table}_no_delete;" for table in HEADS),
    *(f"DROP TRIGGER IF EXISTS {table}_forward;" for table in HEAD_RULES),
]

PG_FORWARD = [
    # The function of 0004 raises for any operation on the table it guards.
    *(
        f"CREATE TRIGGER {table}_no_{op} BEFORE {op.upper()} ON {table} "
        f"FOR EACH {'STATEMENT' if op == 'truncate' else 'ROW'} EXECUTE FUNCTION preuves_evidence_append_only();"
        for table in NEW_APPEND_ONLY
        for op in ("update", "delete", "truncate")
    ),
    *(
        f"CREATE TRIGGER {table}_no_{op} BEFORE {op.upper()} ON {table} "
        f"FOR EACH {'STATEMENT' if op == 'truncate' else 'ROW'} EXECUTE FUNCTION preuves_evidence_append_only();"
        for table in HEADS
        for op in ("delete", "truncate")
    ),
    *(
        f"""CREATE OR REPLACE FUNCTION {table}_forward() RETURNS trigger AS $$
        BEGIN
            IF NOT ({rule}) THEN
                RAISE EXCEPTION 'tête en avant seulement : retour en arrière ou tête sans entrée sur %',
                    TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege';
            END IF;
            RETURN NEW;
        END;
        $$ LANGUAGE plpgsql;
        CREATE TRIGGER {table}_forward BEFORE UPDATE ON {table}
            FOR EACH ROW EXECUTE FUNCTION {table}_forward();"""
        for table, rule in HEAD_RULES.items()
    ),
]
PG_BACKWARD = [
    *(
        f"DROP TRIGGER IF EXISTS {table}_no_{op} ON {table};"
        for table in NEW_APPEND_ONLY
        for op in ("update", "delete", "truncate")
    ),
    *(f"DROP TRIGGER IF EXISTS {table}_no_{op} ON {table};" for table in HEADS for op in ("delete", "truncate")),
    *(
        f"DROP TRIGGER IF EXISTS {table}_forward ON {table}; DROP FUNCTION IF EXISTS {table}_forward();"
        for table in HEAD_RULES
    ),
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": PG_FORWARD, "sqlite": SQLITE_FORWARD}.get(vendor, [])
    for statement in statements:
        schema_editor.execute(statement, params=None)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    statements = {"postgresql": PG_BACKWARD, "sqlite": SQLITE_BACKWARD}.get(vendor, [])
    for statement in statements:
        schema_editor.execute(statement, params=None)


class Migration(migrations.Migration):
    dependencies = [("preuves", "0005_witnesses")]

    operations = [migrations.RunPython(forward, backward)]
