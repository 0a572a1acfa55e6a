"""The bidder's pages in Chromium, where a company is told what it must know before and while
it sends: what a new pli replaces and lacks (and a confirmation), that a pli sent after the
deadline is received « hors délai » and not opened, how near the deadline is (the box's level
changes without a reload), and, when the server fails, that the pli is not received yet and
nothing sent is lost."""

from __future__ import annotations

import re

import pytest
from django.utils import timezone

from marches.models import Consultation
from offres.models import Deposit
from tests.offres import builders

from .helpers import check_page, screenshot
from .test_browser_deposit import RECEIPT_URL, UPLOAD_TIMEOUT_MS, _choose, _login, _open_deposit_page

expect = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the Python package `playwright` and Debian's package `chromium`",
).expect

SEND = "Chiffrer et envoyer le pli"


@pytest.fixture
def tender(buyer_agent):
    from marches import services
    from tests.marches.test_services import publishable

    consultation, members = publishable(buyer_agent, reference="2026-NAV-2")
    consultation = services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)
    return consultation, members


@pytest.fixture
def company_user(transactional_db):
    from tests.factories import MembershipFactory

    return MembershipFactory(company_admin=True, organisation__name="Menuiserie Durand SARL").user


def _paris_seconds(moment) -> str:
    return f"{timezone.localtime(moment):%H:%M:%S} (heure de Paris)"


def _confirm(page) -> None:
    """The DSFR checkbox is drawn by its label, which takes the click."""
    page.locator("label[for=depot-replace-confirm]").click()
    expect(page.locator("#depot-replace-confirm")).to_be_checked()


def _set_deadline(consultation, **delta) -> None:
    Consultation.objects.filter(pk=consultation.pk).update(
        deadline=timezone.now() + timezone.timedelta(**delta)
    )


def test_a_partial_re_deposit_says_what_it_replaces_and_lacks_and_waits_for_confirmation(
    page, tender, company_user, tmp_path
):
    consultation, _ = tender
    first = builders.receive(
        consultation,
        company_user,
        [
            ("application", "dume.pdf.age", builders.encrypt_to(consultation, "application", b"dume")),
            ("offer", "offre.pdf.age", builders.encrypt_to(consultation, "offer", b"offre")),
        ],
    )
    # The consultation page tells the company it has already deposited, and when.
    _login(page, company_user)
    page.goto(f"/consultations/{consultation.pk}/")
    mine = page.locator("#my-deposits")
    expect(mine).to_contain_text("Votre entreprise a déjà déposé pour cette consultation")
    expect(mine).to_contain_text(_paris_seconds(first.received_at))
    check_page(page, "consultation_already_deposited")
    page.get_by_role("link", name="Déposer un pli").click()
    expect(page.locator("#depot-retained")).to_contain_text(_paris_seconds(first.received_at))

    # A new pli holding only an offer: the page says what it replaces and what it lacks.
    replace = page.locator("#depot-replace")
    expect(replace).to_be_hidden()
    _choose(page, tmp_path, {"offer": {"offre-v2.pdf": b"%PDF offre v2"}})
    expect(replace).to_be_visible()
    expect(replace).to_contain_text("Il remplacera votre pli reçu le")
    expect(replace).to_contain_text(_paris_seconds(first.received_at))
    expect(replace).to_contain_text("enveloppes candidature (1 fichier) et offre (1 fichier)")
    expect(replace).to_contain_text("Ce nouveau pli ne contient pas d'enveloppe candidature")
    expect(replace).to_have_class(re.compile(r"fr-alert--error"))
    check_page(page, "deposit_replace_lacking")

    # Not sent without the confirmation.
    page.get_by_role("button", name=SEND).click()
    expect(page.locator("#depot-error")).to_contain_text("cochez « J'ai compris »")
    expect(page.locator("#depot-error")).to_contain_text("Rien n'a été envoyé.")
    assert Deposit.objects.count() == 1

    # Adding a candidature: nothing lacks any more, and what was confirmed is asked again.
    _confirm(page)
    _choose(page, tmp_path, {"application": {"dume-v2.pdf": b"%PDF dume v2"}})
    expect(replace).not_to_contain_text("ne contient pas d'enveloppe")
    expect(replace).to_have_class(re.compile(r"fr-alert--warning"))
    expect(page.get_by_label("J'ai compris")).not_to_be_checked()
    screenshot(page, "deposit_replace_complete")

    _confirm(page)
    page.get_by_role("button", name=SEND).click()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
    assert Deposit.objects.filter(state=Deposit.State.RECEIVED).count() == 2


def test_a_closed_consultation_takes_a_late_pli_and_says_it_will_not_be_opened(
    page, tender, company_user, tmp_path
):
    consultation, _ = tender
    _set_deadline(consultation, minutes=-5)
    _login(page, company_user)
    page.goto(f"/consultations/{consultation.pk}/")
    box = page.locator("#deadline-box")
    expect(page.locator("#deadline-left")).to_have_text("La date limite est passée.")
    expect(box.locator("[data-deadline-advice=late]")).to_be_visible()
    expect(box.locator("[data-deadline-advice=late]")).to_have_text(
        "Un pli envoyé maintenant est reçu « hors délai » : il est conservé, comme la loi le demande, "
        "mais ne sera pas ouvert."
    )
    expect(box).to_have_class(re.compile(r"fr-alert--error"))
    expect(page.get_by_text("les plis ne sont plus acceptés")).to_have_count(0)
    check_page(page, "consultation_closed")
    page.get_by_role("link", name="Déposer un pli hors délai").click()
    box = page.locator("#deadline-box")
    expect(box).to_contain_text("envoyé maintenant est reçu « hors délai »")
    check_page(page, "deposit_late")
    _choose(page, tmp_path, {"offer": {"offre.pdf": b"%PDF en retard"}})
    page.get_by_role("button", name=SEND).click()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
    assert Deposit.objects.get().late


def test_the_deadline_box_turns_red_without_a_reload(page, tender, company_user):
    """Ten minutes and a few seconds left: a warning; a few seconds later, an error, on the
    page as it stands. Then the deadline passes, and the box says a pli sent now is late."""
    consultation, _ = tender
    _login(page, company_user)
    page.goto(f"/consultations/{consultation.pk}/")
    box = page.locator("#deadline-box")
    expect(box).to_have_class(re.compile(r"fr-alert--info"))  # three weeks to go
    _set_deadline(consultation, minutes=10, seconds=4)
    page.reload()
    expect(box).to_have_class(re.compile(r"fr-alert--warning"))
    expect(box).to_contain_text("Moins d'une heure : commencez l'envoi maintenant.")
    expect(page.locator("#deadline-left")).to_contain_text(
        re.compile(r"Reste 10 minutes( et \d+ secondes?)?\.")
    )
    screenshot(page, "deadline_hour")
    expect(box).to_have_class(re.compile(r"fr-alert--error"), timeout=20_000)
    expect(box).to_contain_text("Moins de 10 minutes")
    expect(page.locator("#deadline-announce")).to_contain_text("Moins de 10 minutes")
    screenshot(page, "deadline_minutes")

    # On the deposit page too, down to the deadline itself.
    _set_deadline(consultation, seconds=4)
    page.goto(f"/plis/consultation/{consultation.pk}/deposer/")
    expect(box).to_have_class(re.compile(r"fr-alert--error"))
    expect(box).to_contain_text("envoyé maintenant est reçu « hors délai »", timeout=20_000)
    expect(page.locator("#deadline-left")).to_have_text("La date limite est passée.")
    check_page(page, "deposit_deadline_passed")


def test_a_failed_validation_says_the_pli_is_not_received_and_nothing_is_lost(
    page, tender, company_user, tmp_path
):
    """The validation answers 503: the page says plainly that the pli is not received yet
    (no receipt), that nothing sent is lost, and what to do; « Réessayer maintenant » once
    the server is back ends on the receipt."""
    consultation, _ = tender
    _open_deposit_page(page, consultation, company_user)
    failed: list[str] = []

    def unavailable(route):
        failed.append(route.request.url)
        route.fulfill(status=503, body="Service Unavailable", content_type="text/plain")

    page.route("**/valider", unavailable)
    _choose(page, tmp_path, {"offer": {"offre.pdf": b"%PDF offre"}})
    page.get_by_role("button", name=SEND).click()
    waiting = page.locator("#depot-waiting")
    expect(waiting).to_be_visible()
    expect(waiting).to_contain_text("Votre pli n'est pas encore reçu")
    expect(waiting).to_contain_text("Aucun accusé de réception n'a été délivré")
    expect(waiting).to_contain_text("Rien de ce qui a déjà été envoyé n'est perdu")
    expect(waiting).to_contain_text("la page réessaie d'elle-même")
    expect(waiting).to_contain_text("copie de sauvegarde")
    expect(waiting).to_contain_text("HTTP 503")
    check_page(page, "deposit_validation_unavailable")
    assert Deposit.objects.get().state == Deposit.State.UPLOADING

    page.unroute("**/valider")
    page.get_by_role("button", name="Réessayer maintenant").click()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
    assert Deposit.objects.get().state == Deposit.State.RECEIVED
    assert failed


def test_a_lost_connection_at_a_chunk_says_the_same(page, tender, company_user, tmp_path):
    consultation, _ = tender
    _open_deposit_page(page, consultation, company_user)
    page.route("**/contenu?offset=*", lambda route: route.abort("internetdisconnected"))
    _choose(page, tmp_path, {"offer": {"offre.pdf": b"%PDF offre"}})
    page.get_by_role("button", name=SEND).click()
    waiting = page.locator("#depot-waiting")
    expect(waiting).to_contain_text("la connexion au serveur est coupée")
    expect(waiting).to_contain_text("Votre pli n'est pas encore reçu")
    expect(waiting).to_contain_text("Rien de ce qui a déjà été envoyé n'est perdu")
    page.unroute("**/contenu?offset=*")
    page.get_by_role("button", name="Réessayer maintenant").click()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
