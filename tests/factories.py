import factory
from django.utils import timezone
from stdnum import luhn

from comptes import totp
from comptes.models import Membership, Organisation, TOTPDevice, User

PASSWORD = "correct-horse-battery-staple"


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
