"""`python manage.py demo`: demo organisations and people, printed with their credentials,
then demo consultations (marches/demo.py) to search, read and download.

Safe to re-run: it finds what exists and resets the demo passwords and secrets to the
printed values. Every later capability extends this demo."""

import base64
import hashlib

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from comptes import services
from comptes.models import Membership, Organisation, TOTPDevice, User
from config.errors import ApplicationError
from marches import demo as marches_demo
from preuves import anchoring, journal
from preuves.models import LogLeaf

DEMO_PASSWORD = "demo-marches-2026"  # noqa: S105  printed on purpose: demo only
# Seals the demo commission members' shares of the opening keys (comptes/ceremony.py).
DEMO_CEREMONY_PASSPHRASE = "seance-ouverture-des-plis-demo"  # noqa: S105  printed on purpose: demo only

# Buyer key → organisation. SIRETs are fictitious but pass the Luhn check (comptes/identifiers.py).
BUYERS = {
    "demoville": {
        "name": "Ville de Démoville",
        "siret": "21750000800016",
        "address": "1 place de la Mairie, 75000 Démoville",
    },
    "ille-et-vilaine": {
        "name": "Département de l'Ille-et-Vilaine (démo)",
        "siret": "22359990300018",
        "address": "1 avenue de la Préfecture, 35000 Rennes",
    },
    "eaux-vallee": {
        "name": "Syndicat des eaux de la Vallée (démo)",
        "siret": "25359990600018",
        "address": "12 quai des Marais, 37400 Amboise",
    },
}
COMPANIES = [
    {"name": "Durand Bâtiment SARL", "siret": "44030256000014"},
    {"name": "Martin Informatique SAS", "siret": "51204578200012"},
]
# (email, first name, last name, organisation key, role, with TOTP)
PEOPLE = [
    ("admin@plateforme.demo", "Alice", "Admin", None, None, True),
    ("admin@demoville.demo", "Béatrice", "Lemaire", "demoville", Membership.Role.BUYER_ADMIN, True),
    ("agent@demoville.demo", "Claude", "Acheteur", "demoville", Membership.Role.BUYER_AGENT, True),
    (
        "commission1@demoville.demo",
        "Denis",
        "Président",
        "demoville",
        Membership.Role.COMMISSION_MEMBER,
        True,
    ),
    (
        "commission2@demoville.demo",
        "Émilie",
        "Assesseure",
        "demoville",
        Membership.Role.COMMISSION_MEMBER,
        True,
    ),
    (
        "commission3@demoville.demo",
        "Fabrice",
        "Assesseur",
        "demoville",
        Membership.Role.COMMISSION_MEMBER,
        True,
    ),
    ("admin@ille-et-vilaine.demo", "Gaëlle", "Le Goff", "ille-et-vilaine", Membership.Role.BUYER_ADMIN, True),
    ("agent@ille-et-vilaine.demo", "Yann", "Riou", "ille-et-vilaine", Membership.Role.BUYER_AGENT, True),
    (
        "commission1@ille-et-vilaine.demo",
        "Soizic",
        "Présidente",
        "ille-et-vilaine",
        Membership.Role.COMMISSION_MEMBER,
        True,
    ),
    (
        "commission2@ille-et-vilaine.demo",
        "Erwan",
        "Assesseur",
        "ille-et-vilaine",
        Membership.Role.COMMISSION_MEMBER,
        True,
    ),
    (
        "commission3@ille-et-vilaine.demo",
        "Maëlle",
        "Assesseure",
        "ille-et-vilaine",
        Membership.Role.COMMISSION_MEMBER,
        True,
    ),
    ("admin@eaux-vallee.demo", "Jacques", "Fontaine", "eaux-vallee", Membership.Role.BUYER_ADMIN, True),
    ("agent@eaux-vallee.demo", "Karine", "Rivière", "eaux-vallee", Membership.Role.BUYER_AGENT, True),
    (
        "commission1@eaux-vallee.demo",
        "Louis",
        "Président",
        "eaux-vallee",
        Membership.Role.COMMISSION_MEMBER,
        True,
    ),
    (
        "commission2@eaux-vallee.demo",
        "Marion",
        "Assesseure",
        "eaux-vallee",
        Membership.Role.COMMISSION_MEMBER,
        True,
    ),
    ("contact@durand-batiment.demo", "Gérard", "Durand", 0, Membership.Role.COMPANY_ADMIN, False),
    ("chantier@durand-batiment.demo", "Hélène", "Durand", 0, Membership.Role.COMPANY_MEMBER, False),
    ("contact@martin-informatique.demo", "Inès", "Martin", 1, Membership.Role.COMPANY_ADMIN, True),
]


def demo_totp_secret(email: str) -> str:
    """Deterministic, so the printed secret stays valid across re-runs."""
    return base64.b32encode(hashlib.sha256(f"demo-totp:{email}".encode()).digest()[:20]).decode()


class Command(BaseCommand):
    help = "Charge les données de démonstration et affiche les identifiants de connexion."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        if not settings.DEMO_ALLOWED:
            raise CommandError(
                "Les données de démonstration créent des comptes aux mots de passe publiés : "
                "refusé avec ces réglages (DEMO_ALLOWED est faux en production)."
            )
        users = {
            email: self._user(email, first, last, staff=org is None)
            for email, first, last, org, _, _ in PEOPLE
        }
        platform_admin = users["admin@plateforme.demo"]
        buyers = {
            key: Organisation.objects.filter(siret=buyer["siret"]).first()
            or services.buyer_create(
                name=buyer["name"], siret=buyer["siret"], address=buyer["address"], created_by=platform_admin
            )
            for key, buyer in BUYERS.items()
        }
        companies = []
        for company in COMPANIES:
            organisation, created = Organisation.objects.get_or_create(
                siret=company["siret"], defaults={"name": company["name"], "kind": Organisation.Kind.COMPANY}
            )
            if created:
                journal.record(
                    "organisation.created",
                    organisation=organisation,
                    target=organisation,
                    payload={"via": "demo"},
                )
            companies.append(organisation)
        rows = []
        for email, _, _, org_key, role, with_totp in PEOPLE:
            user = users[email]
            organisation = (
                buyers[org_key]
                if isinstance(org_key, str)
                else (companies[org_key] if org_key is not None else None)
            )
            if organisation is not None:
                membership, created = Membership.objects.get_or_create(
                    user=user, organisation=organisation, defaults={"role": role}
                )
                if created:
                    journal.record(
                        "membership.added",
                        organisation=organisation,
                        target=membership,
                        payload={"user": email, "role": role, "via": "demo"},
                    )
            secret = self._totp(user) if with_totp else ""
            if role == Membership.Role.COMMISSION_MEMBER and user.ceremony_key is None:
                services.ceremony_passphrase_set(user=user, passphrase=DEMO_CEREMONY_PASSPHRASE)
            rows.append(
                (
                    email,
                    organisation.name if organisation else "Plateforme (administration)",
                    Membership.Role(role).label if role else "Administrateur de la plateforme",
                    secret,
                )
            )
        self._print(rows)
        # Consultations last: they need the buyers' agents and commission members above.
        try:
            consultations = marches_demo.load(buyers=buyers)
        except ApplicationError as exc:  # e.g. CLAMD_URL set but clamd not answering
            raise CommandError(f"Consultations de démonstration refusées : {exc.message}") from exc
        for line in marches_demo.summary(consultations):
            self.stdout.write(line)
        self._proofs()

    def _proofs(self) -> None:
        """The journal's head anchored in the transparency log: a proof to check by hand."""
        anchoring.anchor_journal()
        leaf = LogLeaf.objects.filter(kind=anchoring.KIND).order_by("-index").first()
        out = self.stdout
        out.write("")
        out.write(f"Preuves : {settings.SITE_URL}/preuves/ (journal de transparence, vérification).")
        out.write("Un paquet de preuve à vérifier, en ligne (« Vérifier une preuve ») ou chez vous :")
        out.write(f"  .venv/bin/python manage.py preuves export-bundle {leaf.index} -o preuve.json")
        out.write(f"  curl -o journal.pem {settings.SITE_URL}/preuves/log/key.pem")
        out.write(f"  curl -o tsa-ca.pem {settings.SITE_URL}/preuves/tsa/ca.pem")
        out.write("  .venv/bin/python preuves/verifier.py preuve.json \\")
        out.write("      --log-key journal.pem --tsa-ca tsa-ca.pem")

    def _user(self, email: str, first: str, last: str, *, staff: bool) -> User:
        user = User.objects.filter(email=email).first()
        if user is None:
            user = User(email=email, first_name=first, last_name=last)
            created = True
        else:
            created = False
        user.is_staff = user.is_superuser = staff
        user.email_verified_at = user.email_verified_at or timezone.now()
        user.set_password(DEMO_PASSWORD)
        user.save()
        if created:
            journal.record("account.registered", actor=user, target=user, payload={"via": "demo"})
        return user

    def _totp(self, user: User) -> str:
        secret = demo_totp_secret(user.email)
        TOTPDevice.objects.update_or_create(
            user=user, defaults={"secret": secret, "confirmed_at": timezone.now()}
        )
        return secret

    def _print(self, rows) -> None:
        out = self.stdout
        out.write("")
        out.write(self.style.SUCCESS("Données de démonstration prêtes."))
        out.write(f"Mot de passe de tous les comptes : {DEMO_PASSWORD}")
        out.write(f"Phrase de passe de séance des membres de commission : {DEMO_CEREMONY_PASSPHRASE}")
        out.write("Second facteur : ajoutez la clé TOTP dans une application d'authentification,")
        out.write("ou affichez le code courant avec :")
        out.write("  .venv/bin/python -c \"import pyotp; print(pyotp.TOTP('CLÉ').now())\"")
        out.write("")
        width = max(len(r[0]) for r in rows)
        for email, organisation, role, secret in rows:
            out.write(f"  {email.ljust(width)}  {role} — {organisation}")
            out.write(f"  {''.ljust(width)}  TOTP : {secret or '(pas de second facteur)'}")
        out.write("")
