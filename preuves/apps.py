from django.apps import AppConfig


class PreuvesConfig(AppConfig):
    name = "preuves"
    verbose_name = "Preuves"
