from django.apps import AppConfig


class DumeConfig(AppConfig):
    """Only so that ``manage.py dume`` is found: the library itself imports no Django."""

    name = "dume"
    verbose_name = "DUME (ESPD)"
