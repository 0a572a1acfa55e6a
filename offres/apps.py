from django.apps import AppConfig


class OffresConfig(AppConfig):
    name = "offres"
    verbose_name = "Offres"

    def ready(self) -> None:
        from marches import services as marches_services

        from . import opening_keys

        # A consultation is published with its opening keys, in the same transaction.
        if opening_keys.create_for_publication not in marches_services.PUBLICATION_STEPS:
            marches_services.PUBLICATION_STEPS.append(opening_keys.create_for_publication)
        # The deposit register, in the buyer's back office of a published consultation.
        from marches.views import buyer

        item = ("offres:deposit_register", "Registre des dépôts")
        if item not in buyer.EXTRA_NAV:
            buyer.EXTRA_NAV.append(item)
        # Then the backup copies received on physical media (offres/backups.py).
        item = ("offres:backup_copies", "Copies de sauvegarde")
        if item not in buyer.EXTRA_NAV:
            buyer.EXTRA_NAV.append(item)
        # « Déposer un pli » on the public page of a consultation open for deposits, and
        # « Déposer un pli hors délai » once it is closed: a late pli is kept, never opened.
        from marches.views import public

        action = ("offres:deposit_new", "Déposer un pli", "Déposer un pli hors délai")
        if action not in public.PUBLIC_ACTIONS:
            public.PUBLIC_ACTIONS.append(action)
