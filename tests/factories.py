import factory
from django.utils import timezone
from stdnum import luhn

from comptes import totp
from comptes.models import Membership, Organisation, TOTPDevice, User

PASSWORD = "correct-horse-battery-staple"
CEREMONY_PASSPHRASE = "agrafe cheval pile correcte séance"


def _siret(n: int) -> str:
    siren8 = f"{(10_000_000 + n * 7919) % 100_000_000:08d}"
    siren = siren8 + luhn.calc_check_digit(siren8)
    nic4 = f"{n % 10000:04d}"
    return siren + nic4 + luhn.calc_check_digit(siren + nic4)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"personne{n}@exemple.fr")
    first_name = factory.Faker("first_name", locale="fr_FR")
    last_name = factory.Faker("last_name", locale="fr_FR")
    email_verified_at = factory.LazyFunction(timezone.now)
    password = factory.django.Password(PASSWORD)

    class Params:
        unverified = factory.Trait(email_verified_at=None)
        staff = factory.Trait(is_staff=True, is_superuser=True)

    @factory.post_generation
    def totp(self, create, extracted, **kwargs):
        if extracted:
            TOTPDevice.objects.create(user=self, secret=totp.new_secret(), confirmed_at=timezone.now())

    @factory.post_generation
    def ceremony(self, create, extracted, **kwargs):
        """`user__ceremony=True`: a ceremony passphrase (CEREMONY_PASSPHRASE) is set."""
        if create and extracted:
            from comptes.services import ceremony_passphrase_set

            ceremony_passphrase_set(user=self, passphrase=CEREMONY_PASSPHRASE)


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation

    kind = Organisation.Kind.COMPANY
    name = factory.Faker("company", locale="fr_FR")
    siret = factory.Sequence(_siret)

    class Params:
        buyer = factory.Trait(
            kind=Organisation.Kind.BUYER, name=factory.Sequence(lambda n: f"Commune n° {n}")
        )
        foreign = factory.Trait(country="DE", siret=None, vat_number="DE136695976")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organisation = factory.SubFactory(OrganisationFactory)
    role = Membership.Role.COMPANY_MEMBER

    class Params:
        company_admin = factory.Trait(role=Membership.Role.COMPANY_ADMIN)
        buyer_admin = factory.Trait(
            role=Membership.Role.BUYER_ADMIN, organisation=factory.SubFactory(OrganisationFactory, buyer=True)
        )
        buyer_agent = factory.Trait(
            role=Membership.Role.BUYER_AGENT, organisation=factory.SubFactory(OrganisationFactory, buyer=True)
        )
        commission_member = factory.Trait(
            role=Membership.Role.COMMISSION_MEMBER,
            organisation=factory.SubFactory(OrganisationFactory, buyer=True),
        )


# --- marches ---------------------------------------------------------------------------------


def _cpv(code: str):
    from marches.models import CpvCode

    return CpvCode.objects.get(code=code)


class ConsultationFactory(factory.django.DjangoModelFactory):
    """A draft consultation of a buyer (built directly, not through the services). Traits:
    `published` (published two days ago, deadline in 30 days, a DCE version 1 with one file),
    `closed` (published, deadline passed), `with_lots` (two lots), `with_commission`."""

    class Meta:
        model = "marches.Consultation"
        skip_postgeneration_save = True

    buyer = factory.SubFactory(OrganisationFactory, buyer=True)
    reference = factory.Sequence(lambda n: f"2026-{n:04d}")
    title = factory.Sequence(lambda n: f"Réfection de la toiture de l'école n° {n}")
    description = "Travaux de couverture, zinguerie et isolation de la toiture."
    nature = "works"
    procedure = "adapted"
    authority_type = "local"
    cpv_main = factory.LazyFunction(lambda: _cpv("45261000"))
    place_code = "35"
    departement = "35"
    estimated_value = factory.LazyFunction(lambda: __import__("decimal").Decimal("120000.00"))
    deadline = factory.LazyFunction(lambda: timezone.now() + timezone.timedelta(days=30))
    max_deposit_bytes = 500 * 1024**2
    contact_name = "Service de la commande publique"
    contact_email = "marches@commune.example.fr"
    created_by = factory.SubFactory(UserFactory)

    class Params:
        published = factory.Trait(
            state="published",
            published_at=factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=2)),
        )
        closed = factory.Trait(
            state="published",
            published_at=factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(days=40)),
            deadline=factory.LazyFunction(lambda: timezone.now() - timezone.timedelta(hours=1)),
        )

    @factory.post_generation
    def dce(self, create, extracted, **kwargs):
        """A DCE version 1; published with the consultation, with the files given as
        {path: bytes} (default: one small règlement de consultation)."""
        if not create:
            return
        from marches.models import DceVersion

        version = DceVersion.objects.create(
            consultation=self,
            number=1,
            created_by=self.created_by,
            published_at=self.published_at,
        )
        files = extracted if extracted is not None else {"RC.pdf": b"%PDF-1.4 reglement de consultation"}
        for path, content in files.items():
            add_dce_file(version, path, content)

    @factory.post_generation
    def search_vector(self, create, extracted, **kwargs):
        """Indexed for full-text search on PostgreSQL, as the services do."""
        if create:
            from marches.services import _refresh_search_vector

            _refresh_search_vector(self)

    @factory.post_generation
    def with_lots(self, create, extracted, **kwargs):
        if create and extracted:
            from decimal import Decimal

            from marches.models import Lot

            Lot.objects.create(
                consultation=self, number=1, title="Couverture", estimated_value=Decimal(70000)
            )
            Lot.objects.create(consultation=self, number=2, title="Isolation", estimated_value=Decimal(50000))

    @factory.post_generation
    def with_commission(self, create, extracted, **kwargs):
        """Three commission members with a second factor and a ceremony passphrase; the first
        presides; quorum 2."""
        if create and extracted:
            from marches.models import CommissionSeat

            for i in range(3):
                member = MembershipFactory(
                    organisation=self.buyer,
                    role=Membership.Role.COMMISSION_MEMBER,
                    user__totp=True,
                    user__ceremony=True,
                ).user
                CommissionSeat.objects.create(consultation=self, member=member, is_president=i == 0)


def add_dce_file(version, path: str, content: bytes, *, scan_status: str = "not_scanned"):
    import hashlib
    import io

    from marches import storage
    from marches.models import DceFile

    sha = hashlib.sha256(content).hexdigest()
    return DceFile.objects.create(
        version=version,
        path=path,
        size=len(content),
        sha256=sha,
        blob=storage.store_blob(io.BytesIO(content), sha),
        scan_status=scan_status,
        uploaded_by=version.created_by,
    )
