"""« Simuler un dépôt »: the platform's permanent test consultation. Its keys are the only
ones the platform holds; it decrypts a test deposit at once and says, file by file, whether
it arrived intact. It is listed nowhere, and no real consultation's key can be opened the
same way."""

import hashlib

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse

from config.errors import ApplicationError
from marches.models import Consultation
from offres import simulation
from offres.models import OpeningKey
from preuves.models import JournalEntry
from tests.factories import MembershipFactory

from . import builders, evidence

pytestmark = pytest.mark.django_db


@pytest.fixture
def company_user():
    return MembershipFactory(company_admin=True).user


def test_the_test_consultation_is_created_once_with_platform_held_keys_and_listed_nowhere(client):
    consultation = simulation.test_consultation()
    assert simulation.test_consultation() == consultation
    assert Consultation.objects.filter(is_test=True).count() == 1
    keys = list(consultation.opening_keys.all())
    assert sorted(k.envelope for k in keys) == ["application", "offer"]
    assert all(k.platform_held and k.threshold == 0 and not k.shares.exists() for k in keys)
    assert consultation.is_open_for_deposits
    assert not Consultation.objects.public().filter(pk=consultation.pk).exists()
    assert not Consultation.objects.open_for_deposits().filter(pk=consultation.pk).exists()
    assert Consultation.objects.depositable().filter(pk=consultation.pk).exists()
    assert client.get(reverse("marches:detail", args=[consultation.pk])).status_code == 404
    assert consultation.reference not in client.get(reverse("marches:search")).content.decode()
    assert JournalEntry.objects.filter(action="opening_keys.test_created").count() == 2


def test_a_test_deposit_is_decrypted_at_once_and_each_file_reported(
    client, company_user, django_capture_on_commit_callbacks
):
    consultation = simulation.test_consultation()
    offer = b"offre de test " * 5000
    with django_capture_on_commit_callbacks(execute=True):
        received = builders.receive(
            consultation,
            company_user,
            [
                ("offer", "offre.pdf.age", builders.encrypt_to(consultation, "offer", offer)),
                ("application", "dume.xml.age", builders.encrypt_to(consultation, "application", b"<dume/>")),
            ],
        )
    # Checked once, after reception, and kept.
    received.refresh_from_db()
    report = {entry["name"]: entry for entry in received.test_report}
    assert report["offre.pdf.age"]["intact"]
    assert report["offre.pdf.age"]["size"] == len(offer)
    assert report["offre.pdf.age"]["sha256"] == hashlib.sha256(offer).hexdigest()
    assert report["dume.xml.age"]["sha256"] == hashlib.sha256(b"<dume/>").hexdigest()
    entry = JournalEntry.objects.get(action="deposit.test_checked")
    assert entry.payload == {"files": 2, "intact": 2}
    assert entry.actor_id == company_user.pk
    # The receipt page shows the stored report: it decrypts nothing again.
    from tests.helpers import login_as, text

    login_as(client, company_user)
    page = text(client.get(reverse("offres:deposit_detail", args=[received.public_id])))
    assert "Votre pli de test est reçu" in page
    assert "Reçu intact" in page
    assert report["offre.pdf.age"]["sha256"] in page
    assert "DÉPÔT DE TEST" in page
    assert JournalEntry.objects.filter(action="deposit.test_checked").count() == 1


def test_a_file_for_the_wrong_recipient_or_altered_in_storage_is_reported_unreadable(company_user):
    """What the rehearsal is for: a file encrypted to another key (the offer's recipient used
    for the candidature), and a stored byte changed, are both caught."""
    consultation = simulation.test_consultation()
    received = builders.receive(
        consultation,
        company_user,
        [
            ("application", "mauvaise-cle.age", builders.encrypt_to(consultation, "offer", b"candidature")),
            ("offer", "offre.age", builders.encrypt_to(consultation, "offer", b"x" * 100_000)),
        ],
    )
    offer = received.files.get(name="offre.age")
    [chunk] = offer.chunks.all()
    stored = bytearray(evidence.stored_ciphertext(offer))
    stored[-100] ^= 1
    from django.core.files.storage import default_storage

    with default_storage.open(chunk.storage_name, "wb") as handle:
        handle.write(bytes(stored))
    report = {entry["name"]: entry for entry in simulation.check(received)}
    assert not report["mauvaise-cle.age"]["intact"]
    assert report["mauvaise-cle.age"]["error"].startswith("illisible : ce fichier ne s'ouvre pas")
    assert not report["offre.age"]["intact"]
    assert "sha256" not in report["offre.age"]


def test_the_platform_never_opens_a_real_consultations_key(published):
    consultation, _ = published
    key = consultation.opening_keys.get(envelope="offer")
    assert not key.platform_held
    with pytest.raises(ApplicationError, match="Seuls les plis de la consultation de test"):
        simulation._identity(key)
    # Even a key row flipped to « platform held » on a real consultation does not open: the
    # consultation must be the test one, and the database refuses a held key with shares.
    key.platform_held = True
    with pytest.raises(ApplicationError, match="Seuls les plis de la consultation de test"):
        simulation._identity(key)
    with pytest.raises(IntegrityError), transaction.atomic():
        OpeningKey.objects.filter(pk=key.pk).update(platform_held=True)


def test_the_simulation_page_needs_a_company_account(client, company_user):
    from tests.helpers import login_as

    url = reverse("offres:simulation")
    assert client.get(url).status_code == 302  # to the login page
    agent = MembershipFactory(buyer_agent=True, user__totp=True).user
    login_as(client, agent)
    response = client.get(url)
    assert response.status_code == 403
    assert "Seules les entreprises déposent des plis" in response.content.decode()
    login_as(client, company_user)
    response = client.get(url)
    assert response.status_code == 200
    for key in simulation.test_consultation().opening_keys.all():
        assert key.recipient in response.content.decode()


def test_a_real_consultation_with_platform_held_keys_receives_nothing(published, company_user):
    """Defence in depth: were a real consultation's keys replaced by platform-held ones,
    it would accept no deposit at all."""
    from offres import deposits
    from offres.models import KeyShare

    consultation, _ = published
    KeyShare.objects.filter(opening_key__consultation=consultation).delete()
    OpeningKey.objects.filter(consultation=consultation).update(
        platform_held=True, threshold=0, share_count=0
    )
    with pytest.raises(ApplicationError, match="pas de clés d'ouverture valides"):
        deposits.deposit_open(
            consultation=consultation, company=deposits.company_for(company_user), user=company_user, lots=[]
        )


def test_test_deposits_are_bounded_per_company_and_day(company_user, settings):
    from offres import deposits

    settings.TEST_DEPOSITS_PER_DAY = 2
    consultation = simulation.test_consultation()
    company = deposits.company_for(company_user)
    for _ in range(2):
        deposits.deposit_open(consultation=consultation, company=company, user=company_user, lots=[])
    with pytest.raises(
        ApplicationError, match="déjà fait 2 dépôts de test ces dernières 24 heures"
    ) as refused:
        deposits.deposit_open(consultation=consultation, company=company, user=company_user, lots=[])
    assert refused.value.status == 429
    other = MembershipFactory(company_admin=True)
    deposits.deposit_open(consultation=consultation, company=other.organisation, user=other.user, lots=[])
