from django.apps import AppConfig


class PreuvesConfig(AppConfig):
    name = "preuves"
    verbose_name = "Preuves"

    def ready(self) -> None:
        from . import checks  # noqa: F401 (registers the deployment checks)
