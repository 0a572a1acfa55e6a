"""A consultation in a real browser, from the agent's draft to the companies' downloads.

An agent creates a two-lot consultation, chooses its commission, uploads a DCE (the EICAR
test file is refused by the real clamd) and publishes it; an anonymous visitor finds it with
a CPV filter, opens it and downloads the zip; a logged-in company downloads it too and
appears in the download register that the agent reads.
"""

import io
import zipfile
from datetime import timedelta

import pytest
from django.utils import timezone

from comptes.models import Membership
from marches.models import Consultation, DceDownload, DceFile
from preuves.models import JournalEntry
from tests.factories import PASSWORD, MembershipFactory

from .helpers import check_page, totp_now

expect = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the Python package `playwright` and Debian's package `chromium`",
).expect

# Built from two halves so that no file of the repository is itself the test virus.
EICAR = "X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + "EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"
TITLE = "Rénovation énergétique du gymnase Jean-Moulin"


def _login(page, user, *, with_code: bool, lands_on: str = "/plis/mes-plis/") -> None:
    page.goto("/comptes/connexion/")
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    if with_code:
        code, _ = totp_now(user.totp_device.secret)
        page.locator("#id_code").fill(code)
        page.get_by_role("button", name="Valider").click()
    expect(page).to_have_url(f"{page.base_url}{lands_on}")


@pytest.fixture
def people(db):
    agent = MembershipFactory(
        buyer_agent=True, user__totp=True, user__first_name="Alice", user__last_name="Agent"
    )
    buyer = agent.organisation
    members = [
        MembershipFactory(
            organisation=buyer,
            role=Membership.Role.COMMISSION_MEMBER,
            user__totp=True,
            user__ceremony=True,
            user__first_name=f"Membre{i}",
            user__last_name=f"Commission{i}",
        ).user
        for i in range(3)
    ]
    company = MembershipFactory(company_admin=True, user__email="contact@toitures-bretonnes.fr")
    return agent.user, members, company


def test_agent_publishes_and_companies_download(page, browser, live_server, people, clamav, tmp_path):
    agent, members, company = people
    _login(page, agent, with_code=True, lands_on="/consultations/acheteur/")  # buyer staff

    # 1. The draft.
    page.goto("/consultations/acheteur/nouvelle/")
    check_page(page, "buyer-create")
    page.locator("#id_reference").fill("2026-GYM-01")
    page.locator("#id_title").fill(TITLE)
    page.locator("#id_description").fill(
        "Isolation des parois, remplacement des menuiseries et de la chaufferie."
    )
    page.locator("#id_nature").select_option("works")
    page.locator("#id_procedure").select_option("adapted")
    page.locator("#id_cpv_main").fill("45261000-4")
    page.locator("#id_place_code").fill("35238")
    page.locator("#id_estimated_value").fill("300000")
    deadline = timezone.localtime(timezone.now() + timedelta(days=25))
    page.locator("#id_deadline_date").fill(deadline.strftime("%Y-%m-%d"))
    page.locator("#id_deadline_time").fill("12:00")
    page.locator("#id_contact_name").fill("Service de la commande publique")
    page.locator("#id_contact_email").fill("marches@commune.example.fr")
    page.get_by_role("button", name="Créer le brouillon").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(TITLE)
    consultation = Consultation.objects.get(reference="2026-GYM-01")

    # 2. Two lots.
    page.goto(f"/consultations/acheteur/{consultation.pk}/lots/")
    check_page(page, "buyer-lots")
    if page.locator("#id_form-1-title").count() == 0:
        page.get_by_role("button", name="Ajouter un lot").click()
    page.locator("#id_form-0-number").fill("1")
    page.locator("#id_form-0-title").fill("Isolation et menuiseries")
    page.locator("#id_form-0-estimated_value").fill("200000")
    page.locator("#id_form-1-number").fill("2")
    page.locator("#id_form-1-title").fill("Chaufferie")
    page.locator("#id_form-1-estimated_value").fill("120000")
    page.get_by_role("button", name="Enregistrer les lots").click()
    expect(page.get_by_text("Lot enregistré n° 2")).to_be_visible()
    consultation.refresh_from_db()
    assert consultation.lots.count() == 2
    assert consultation.estimated_value == 320000

    # 3. The commission: three members, the first presides, two to open.
    page.goto(f"/consultations/acheteur/{consultation.pk}/commission/")
    check_page(page, "buyer-commission")
    for member in members:
        page.locator(f"label[for=member-{member.pk}]").click()
    page.locator(f"label[for=president-{members[0].pk}]").click()
    page.locator("#id_quorum").fill("2")
    page.get_by_role("button", name="Enregistrer la commission").click()
    expect(page.locator(".fr-alert--success, .fr-alert--info").first).to_be_visible()
    assert consultation.commission.count() == 3

    # 4. The DCE: the EICAR file is refused and named, then the real documents go in.
    page.goto(f"/consultations/acheteur/{consultation.pk}/dce/")
    check_page(page, "buyer-dce")
    virus = tmp_path / "Annexe-financiere.pdf"
    virus.write_text(EICAR)
    page.locator("#id_files").set_input_files(str(virus))
    page.get_by_role("button", name="Importer").click()
    expect(page.get_by_text("Fichier infecté refusé")).to_be_visible()
    expect(page.get_by_text("« Annexe-financiere.pdf »")).to_be_visible()
    assert not DceFile.objects.filter(version__consultation=consultation).exists()
    assert JournalEntry.objects.filter(action="dce.infected_refused").count() == 1

    rc = tmp_path / "RC.pdf"
    rc.write_bytes(b"%PDF-1.4 Reglement de la consultation")
    bundle = tmp_path / "pieces.zip"
    with zipfile.ZipFile(bundle, "w") as archive:
        archive.writestr("Pièces techniques/Plans/plan-masse.pdf", b"%PDF-1.4 plan")
        archive.writestr("CCAP.pdf", b"%PDF-1.4 CCAP")
    page.locator("#id_files").set_input_files([str(rc), str(bundle)])
    page.get_by_role("button", name="Importer").click()
    expect(page.get_by_text("Pièces techniques/Plans/plan-masse.pdf").first).to_be_visible()
    statuses = DceFile.objects.filter(version__consultation=consultation).values_list(
        "scan_status", flat=True
    )
    assert set(statuses) == {DceFile.ScanStatus.CLEAN}

    # 5. Publication: the rules are shown, then the consultation goes public.
    page.goto(f"/consultations/acheteur/{consultation.pk}/publier/")
    check_page(page, "buyer-publish")
    page.get_by_role("button", name="Publier la consultation").click()
    expect(page.get_by_text("publiée", exact=False).first).to_be_visible()
    consultation.refresh_from_db()
    assert consultation.state == Consultation.State.PUBLISHED

    # 6. An anonymous visitor finds it by a CPV filter (works: division 45) and downloads it.
    visitor = browser.new_context(base_url=live_server.url, locale="fr-FR", accept_downloads=True)
    anonymous = visitor.new_page()
    anonymous.goto("/consultations/?cpv=45000000")
    check_page(anonymous, "search-cpv")
    anonymous.get_by_role("link", name=TITLE).click()
    expect(anonymous.get_by_role("heading", level=1)).to_contain_text(TITLE)
    expect(anonymous.get_by_text("heure de Paris").first).to_be_visible()
    check_page(anonymous, "consultation-detail")
    with anonymous.expect_download() as download_info:
        anonymous.get_by_role("link", name="Télécharger tout le DCE").click()
    path = download_info.value.path()
    with zipfile.ZipFile(path) as archive:
        names = {name.split("/", 1)[1] for name in archive.namelist()}
        assert names == {"RC.pdf", "CCAP.pdf", "Pièces techniques/Plans/plan-masse.pdf"}
        assert any(archive.read(n) == b"%PDF-1.4 CCAP" for n in archive.namelist())
    visitor.close()
    assert not DceDownload.objects.exists()  # anonymous downloads leave no trace

    # 7. A logged-in company downloads it and appears in the register.
    company_context = browser.new_context(base_url=live_server.url, locale="fr-FR", accept_downloads=True)
    company_page = company_context.new_page()
    company_page.base_url = live_server.url
    _login(company_page, company.user, with_code=False)
    company_page.goto(f"/consultations/{consultation.pk}/")
    with company_page.expect_download() as download_info:
        company_page.get_by_role("link", name="Télécharger tout le DCE").click()
    with zipfile.ZipFile(io.BytesIO(download_info.value.path().read_bytes())) as archive:
        assert len(archive.namelist()) == 3
    company_context.close()
    row = DceDownload.objects.get()
    assert row.email == company.user.email
    assert row.organisation == company.organisation

    page.goto(f"/consultations/acheteur/{consultation.pk}/registre-des-retraits/")
    check_page(page, "buyer-register")
    expect(page.get_by_text(company.user.email)).to_be_visible()
