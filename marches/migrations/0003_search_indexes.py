"""Indexes for the public search on PostgreSQL: a GIN index on the French text-search vector,
and prefix indexes for CPV filters (descendants are matched by prefix). SQLite
(the embedded default) searches without them."""

from django.db import migrations

POSTGRES_FORWARD = [
    "CREATE INDEX IF NOT EXISTS marches_consultation_search_gin "
    "ON marches_consultation USING gin (search_vector);",
    "CREATE INDEX IF NOT EXISTS marches_consultation_cpv_prefix "
    "ON marches_consultation (cpv_main_id varchar_pattern_ops);",
    "CREATE INDEX IF NOT EXISTS marches_consultation_cpv_additional_prefix "
    "ON marches_consultation_cpv_additional (cpvcode_id varchar_pattern_ops, consultation_id);",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS marches_consultation_search_gin;",
    "DROP INDEX IF EXISTS marches_consultation_cpv_prefix;",
    "DROP INDEX IF EXISTS marches_consultation_cpv_additional_prefix;",
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_FORWARD:
            schema_editor.execute(statement)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in POSTGRES_BACKWARD:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [("marches", "0002_load_cpv")]
    operations = [migrations.RunPython(forward, backward)]
