from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo data (`manage.py demo`): above every app, since it fills all of them."""

    name = "demo"
    verbose_name = "Démonstration"
