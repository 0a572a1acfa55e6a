"""Load the CPV 2008 main vocabulary (9,454 codes, French and English labels, official check
digits) from marches/data/cpv/cpv_2008.csv. See marches/data/cpv/PROVENANCE.md."""

import csv
from pathlib import Path

from django.db import migrations

CSV_PATH = Path(__file__).resolve().parent.parent / "data" / "cpv" / "cpv_2008.csv"


def load(apps, schema_editor):
    CpvCode = apps.get_model("marches", "CpvCode")
    with CSV_PATH.open(encoding="utf-8", newline="") as handle:
        rows = [
            CpvCode(
                code=row["code"],
                check_digit=row["check_digit"],
                label_fr=row["label_fr"],
                label_en=row["label_en"],
            )
            for row in csv.DictReader(handle)
        ]
    CpvCode.objects.using(schema_editor.connection.alias).bulk_create(
        rows, batch_size=1000, ignore_conflicts=True
    )


def unload(apps, schema_editor):
    apps.get_model("marches", "CpvCode").objects.using(schema_editor.connection.alias).all().delete()


class Migration(migrations.Migration):
    dependencies = [("marches", "0001_initial")]
    operations = [migrations.RunPython(load, unload)]
