"""A company deposits in a real browser: « Déposer un pli » from the consultation page, files
chosen for both envelopes, encrypted in Chromium to the published recipients, uploaded in
chunks, finalised; the receipt is on screen. Then, on the platform's side: no plaintext
anywhere, the proofs verify with standard tools, and what is stored opens with the
commission's quorum to the very bytes chosen. A second journey loses the network in the
middle of a 50 MB upload and resumes it."""

from __future__ import annotations

import hashlib
import itertools
import os
import re

import pytest

from marches import services
from offres.models import Deposit, DepositChunk
from preuves.models import JournalEntry
from tests.factories import PASSWORD, MembershipFactory
from tests.marches.test_services import publishable
from tests.offres import evidence

from .helpers import check_page, screenshot

expect = pytest.importorskip(
    "playwright.sync_api",
    reason="browser tests need the Python package `playwright` and Debian's package `chromium`",
).expect

MARKER = b"MARQUEUR-EN-CLAIR-DU-PLI-4417"
BIG = 50 * 1000 * 1000
RECEIPT_URL = re.compile(r"/plis/[0-9a-f-]{36}/(\?.*)?$")
# Encrypting 50 MB in JavaScript and sending it through the live server takes a while on a
# loaded two-core machine.
UPLOAD_TIMEOUT_MS = 240_000


def plaintext(size: int) -> bytes:
    """Random bytes (nothing to compress away) with the marker at the start, the middle and
    the end."""
    body = bytearray(os.urandom(size))
    for at in (0, size // 2, size - len(MARKER)):
        body[at : at + len(MARKER)] = MARKER
    return bytes(body)


@pytest.fixture
def tender(buyer_agent):
    consultation, members = publishable(buyer_agent, reference="2026-NAV-1")
    consultation = services.consultation_publish(consultation=consultation, published_by=buyer_agent.user)
    return consultation, members


@pytest.fixture
def company_user(transactional_db):
    return MembershipFactory(company_admin=True, organisation__name="Menuiserie Durand SARL").user


def _login(page, user, root: str = "") -> None:
    page.goto(f"{root}/comptes/connexion/")
    page.locator("#id_username").fill(user.email)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Se connecter", exact=True).click()
    # Wherever a login lands (the user's work, comptes' choice), it is past the login page.
    expect(page).not_to_have_url(re.compile(r"/comptes/connexion/"))
    expect(page.get_by_role("button", name="Se déconnecter")).to_be_visible()


def _choose(page, tmp_path, files: dict[str, dict[str, bytes]]) -> None:
    for envelope, named in files.items():
        paths = []
        for name, data in named.items():
            path = tmp_path / name
            path.write_bytes(data)
            paths.append(str(path))
        page.locator(f"#depot-{envelope}-files").set_input_files(paths)


def _open_deposit_page(page, consultation, user) -> None:
    _login(page, user)
    page.goto(f"/consultations/{consultation.pk}/")
    page.get_by_role("link", name="Déposer un pli").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Déposer un pli")
    for key in consultation.opening_keys.all():
        expect(page.locator(f"#depot-{key.envelope}-recipient")).to_have_text(key.recipient)


def test_a_company_deposits_a_small_and_a_50_mb_file_and_gets_a_verifiable_receipt(
    page, tender, company_user, tmp_path, mailoutbox
):
    consultation, members = tender
    small = b"%PDF-1.7 candidature " + MARKER + b" fin"
    big = plaintext(BIG)
    _open_deposit_page(page, consultation, company_user)
    check_page(page, "deposit_new")

    # Sending with nothing chosen says what is missing, in French, and sends nothing.
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    expect(page.locator("#depot-error")).to_contain_text("Ajoutez au moins un fichier")
    assert not Deposit.objects.exists()

    _choose(page, tmp_path, {"application": {"dume.pdf": small}, "offer": {"offre.pdf": big}})
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    expect(page.locator("#depot-progress")).to_be_visible()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)

    # The receipt, on screen.
    expect(page.get_by_role("heading", level=1)).to_have_text("Accusé de réception")
    expect(page.get_by_text("Votre pli est reçu")).to_be_visible()
    deposit = Deposit.objects.get()
    assert deposit.state == Deposit.State.RECEIVED
    assert not deposit.late
    expect(page.locator("#depot-digest")).to_have_text(deposit.digest)
    documents = page.locator("#depot-documents")
    for file in deposit.files.all():
        expect(documents).to_contain_text(file.name)
        expect(documents).to_contain_text(file.sha256)
    expect(page.get_by_role("cell", name=re.compile(r"^Menuiserie Durand SARL \("))).to_be_visible()
    check_page(page, "deposit_receipt")

    # What the platform holds: ciphertext only, whose SHA-256 is the receipted one, that the
    # quorum opens to the bytes chosen in the browser.
    files = {f.name: f for f in deposit.files.all()}
    assert set(files) == {"dume.pdf.age", "offre.pdf.age"}
    for name, clear in (("dume.pdf.age", small), ("offre.pdf.age", big)):
        stored = evidence.stored_ciphertext(files[name])
        assert hashlib.sha256(stored).hexdigest() == files[name].sha256
        assert evidence.open_with_quorum(files[name], members) == clear
    assert files["offre.pdf.age"].chunks.count() > 1  # sent in chunks
    evidence.assert_nowhere(MARKER, tmp_path / "media")

    # The proofs, downloaded with the bidder's session, pass the verifier and openssl.
    def fetch(path: str) -> bytes:
        response = page.request.get(path)
        assert response.ok, (path, response.status)
        return response.body()

    proofs = tmp_path / "preuves"
    proofs.mkdir()
    evidence.assert_proofs_verify(fetch, str(deposit.public_id), deposit.digest, proofs)
    assert fetch(f"/api/v1/depots/{deposit.public_id}/accuse.pdf").startswith(b"%PDF")
    assert [m.subject for m in mailoutbox] == [f"Accusé de réception de votre pli — {consultation.reference}"]
    assert JournalEntry.objects.filter(action="deposit.received", target_id=str(deposit.pk)).exists()

    # The company's deposits.
    page.get_by_role("link", name="Mes plis").first.click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes plis")
    expect(page.get_by_role("cell", name=re.compile(consultation.reference))).to_be_visible()
    check_page(page, "deposit_list")


# A browser without the origin-private file system: files are encrypted as they are sent,
# and a dropped connection is resumed from the chunk kept in memory.
NO_BROWSER_COPY = "delete StorageManager.prototype.getDirectory;"


def test_an_upload_cut_in_the_middle_resumes_to_the_same_digest(page, tender, company_user, tmp_path):
    consultation, members = tender
    big = plaintext(BIG)
    page.add_init_script(NO_BROWSER_COPY)
    _open_deposit_page(page, consultation, company_user)
    _choose(page, tmp_path, {"offer": {"offre.pdf": big}})
    puts: list[str] = []
    page.on("request", lambda request: puts.append(request.url) if request.method == "PUT" else None)
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()

    # Wait until about 20 MB are on the server, then cut the network for a few seconds.
    _wait_until_received(page, 20 * 1000 * 1000)
    page.context.set_offline(True)
    expect(page.locator("#depot-status")).to_contain_text("Connexion interrompue", timeout=30_000)
    expect(page.locator("#depot-deadline-warning")).to_be_hidden()  # three weeks to go: no warning
    screenshot(page, "deposit_interrupted")
    held = _received()
    page.wait_for_timeout(3000)
    assert _received() == held  # nothing arrives while offline
    page.context.set_offline(False)
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text("Accusé de réception")

    _assert_resumed_whole(members, big, puts)


def _received() -> int:
    return sum(c.size for c in DepositChunk.objects.all())


def _wait_until_received(page, size: int) -> None:
    for _ in range(UPLOAD_TIMEOUT_MS // 100):
        if _received() >= size:
            return
        page.wait_for_timeout(100)
    pytest.fail(f"the upload never reached {size} bytes")


def _assert_resumed_whole(members, clear: bytes, puts: list[str]) -> None:
    deposit = Deposit.objects.get()
    [file] = deposit.files.all()
    stored = evidence.stored_ciphertext(file)
    # The browser's own SHA-256 of what it sent matched the server's (or the page would have
    # refused to finalise), and the stored bytes are that file, whole.
    assert hashlib.sha256(stored).hexdigest() == file.sha256 == deposit.manifest["files"][0]["sha256"]
    assert evidence.open_with_quorum(file, members) == clear
    # Resumed, not restarted: one announcement, each offset stored once, and hardly more PUTs
    # than chunks (the one cut short is sent again).
    offsets = list(file.chunks.order_by("offset").values_list("offset", "size"))
    assert all(a + s == b for (a, s), (b, _) in itertools.pairwise(offsets))
    assert len(puts) <= len(offsets) + 3, (len(puts), len(offsets))


def test_an_upload_survives_a_server_restart(page, tender, company_user, tmp_path):
    """The platform runs in its own process; it is stopped in the middle of the 50 MB upload
    and started again on the same port: the page waits, then resumes where the server's
    acknowledged bytes end."""
    from django.conf import settings

    from tests.servers import free_port, running_server
    from tests.test_celery_worker import database_url

    consultation, members = tender
    big = plaintext(BIG)
    env = {
        "DATABASE_URL": database_url(),
        "PREUVES_TEST_KEY_DIR": str(settings.PREUVES_KEY_DIR),
        "PROFIL_TEST_MEDIA_ROOT": str(tmp_path / "media"),
    }
    port, log = free_port(), tmp_path / "serveur.log"
    puts: list[str] = []
    page.on("request", lambda request: puts.append(request.url) if request.method == "PUT" else None)
    with running_server(env, log, port=port) as root:
        _login(page, company_user, root)
        page.goto(f"{root}/plis/consultation/{consultation.pk}/deposer/")
        _choose(page, tmp_path, {"offer": {"offre.pdf": big}})
        page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
        _wait_until_received(page, 20 * 1000 * 1000)
    expect(page.locator("#depot-status")).to_contain_text("Connexion interrompue", timeout=30_000)
    held = _received()
    with running_server(env, log, port=port):
        page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
        expect(page.get_by_role("heading", level=1)).to_have_text("Accusé de réception")
    assert _received() > held
    _assert_resumed_whole(members, big, puts)


def test_the_page_warns_when_the_upload_would_end_after_the_deadline(page, tender, company_user, tmp_path):
    """A slow uplink (Chromium's network emulation: 256 KB/s) and a deadline in three minutes:
    50 MB cannot make it, and the page says so while sending."""
    from django.utils import timezone

    from marches.models import Consultation

    consultation, _ = tender
    Consultation.objects.filter(pk=consultation.pk).update(
        deadline=timezone.now() + timezone.timedelta(minutes=3)
    )
    _open_deposit_page(page, consultation, company_user)
    _choose(page, tmp_path, {"offer": {"offre.pdf": plaintext(BIG)}})
    network = page.context.new_cdp_session(page)
    network.send("Network.enable")
    network.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    warning = page.locator("#depot-deadline-warning")
    expect(warning).to_be_visible(timeout=60_000)
    expect(warning).to_contain_text("après la date limite")
    expect(warning).to_contain_text("votre pli serait reçu hors délai")
    expect(page.locator("#depot-stats")).to_contain_text("temps restant estimé")
    screenshot(page, "deposit_deadline_warning")


def test_a_company_simulates_a_deposit_and_learns_every_file_arrived_intact(page, company_user, tmp_path):
    _login(page, company_user)
    page.goto("/plis/mes-plis/")
    page.get_by_role("link", name="Simuler un dépôt").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Simuler un dépôt")
    expect(page.get_by_text("n'y déposez pas votre véritable offre")).to_be_visible()
    check_page(page, "simulation")
    _choose(
        page,
        tmp_path,
        {
            "application": {"dume.xml": b"<dume>" + MARKER + b"</dume>"},
            "offer": {"offre.pdf": plaintext(3 * 1024 * 1024 + 17), "prix.xlsx": b"PK prix"},
        },
    )
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
    expect(page.get_by_text("Votre pli de test est reçu")).to_be_visible()
    report = page.locator("#simulation-report tbody tr")
    expect(report).to_have_count(3)
    for row in report.all():
        expect(row).to_contain_text("Reçu intact")
        expect(row).to_contain_text("Identique au fichier choisi")
    check_page(page, "simulation_report")
    deposit = Deposit.objects.get()
    assert deposit.consultation.is_test
    assert JournalEntry.objects.filter(action="deposit.test_checked", target_id=str(deposit.pk)).exists()


def test_the_page_refuses_what_it_must_not_send(page, tender, company_user, tmp_path):
    """Above the consultation's limit, nothing is opened on the server; and if the server
    announced recipients other than those printed on the page (keys swapped behind the
    page's back), the page sends nothing at all."""
    import pyrage

    from marches.models import Consultation
    from offres.models import DepositFile, OpeningKey

    consultation, _ = tender
    Consultation.objects.filter(pk=consultation.pk).update(max_deposit_bytes=4000)
    _open_deposit_page(page, consultation, company_user)
    _choose(page, tmp_path, {"offer": {"offre.pdf": os.urandom(5000)}})
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    expect(page.locator("#depot-error")).to_contain_text("la consultation accepte 3,9 ko au plus")
    assert not Deposit.objects.exists()

    Consultation.objects.filter(pk=consultation.pk).update(max_deposit_bytes=10**8)
    page.reload()
    _choose(page, tmp_path, {"offer": {"offre.pdf": MARKER}})
    swapped = str(pyrage.x25519.Identity.generate().to_public())
    OpeningKey.objects.filter(consultation=consultation, envelope="offer").update(recipient=swapped)
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    expect(page.locator("#depot-error")).to_contain_text("diffère de celui publié sur la page")
    assert not DepositFile.objects.exists()
    check_page(page, "deposit_refused")


def test_a_server_error_is_retried_and_a_refusal_is_not(page, tender, company_user, tmp_path):
    """The page's two answers to a failed chunk: a 500 (the server stumbled) is retried and
    the upload resumes; a refusal (here a 415 « not age ») is shown as the server wrote it,
    and nothing is sent again."""
    import json

    consultation, members = tender
    clear = plaintext(9 * 1024 * 1024)
    _open_deposit_page(page, consultation, company_user)
    seen: list[int] = []

    def stumble_once(route):
        seen.append(route.request.method)
        if len(seen) == 2:  # the second chunk
            route.fulfill(status=500, body="Internal Server Error", content_type="text/plain")
        else:
            route.continue_()

    page.route("**/contenu?offset=*", stumble_once)
    _choose(page, tmp_path, {"offer": {"offre.pdf": clear}})
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
    _assert_resumed_whole(members, clear, ["PUT"] * len(seen))
    assert len(seen) == 4  # three chunks, the second one twice

    page.unroute("**/contenu?offset=*")
    refusal = {
        "error": {
            "code": "not_age",
            "message": "« offre.pdf.age » refusé : en-tête age illisible.",
            "details": {},
        }
    }
    refused: list[str] = []

    def refuse(route):
        refused.append(route.request.url)
        route.fulfill(status=415, body=json.dumps(refusal), content_type="application/json")

    page.goto(f"/plis/consultation/{consultation.pk}/deposer/")
    page.route("**/contenu?offset=*", refuse)
    _choose(page, tmp_path, {"offer": {"offre.pdf": b"%PDF court"}})
    # It would replace the pli just received: confirmed (tests/e2e/test_browser_deposit_pages.py).
    page.locator("label[for=depot-replace-confirm]").click()
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    expect(page.locator("#depot-error")).to_contain_text("« offre.pdf.age » refusé : en-tête age illisible.")
    page.wait_for_timeout(1500)
    assert len(refused) == 1


def test_a_file_that_ends_exactly_on_a_chunk_boundary(page, tender, company_user, tmp_path):
    """The ciphertext is exactly two 4 MiB chunks: two PUTs, no empty third one."""
    consultation, members = tender
    _open_deposit_page(page, consultation, company_user)
    recipient = consultation.opening_keys.get(envelope="offer").recipient
    target = 2 * 4 * 1024 * 1024
    size = page.evaluate(
        """async ([recipient, target]) => {
            // The plaintext size whose age ciphertext is exactly `target` bytes.
            const empty = { stream: () => new Blob([]).stream() };
            const sizeOf = async (n) =>
                (await MarchesChiffrement.encryptFile({ ...empty, size: n }, recipient)).size;
            let low = 0, high = target;
            while (low < high) {
                const middle = Math.floor((low + high) / 2);
                if ((await sizeOf(middle)) < target) low = middle + 1; else high = middle;
            }
            return (await sizeOf(low)) === target ? low : -1;
        }""",
        [recipient, target],
    )
    assert size > 0
    clear = plaintext(size)
    puts: list[str] = []
    page.on("request", lambda request: puts.append(request.url) if request.method == "PUT" else None)
    _choose(page, tmp_path, {"offer": {"offre.pdf": clear}})
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
    [file] = Deposit.objects.get().files.all()
    assert file.size == target
    assert list(file.chunks.values_list("offset", "size")) == [(0, target // 2), (target // 2, target // 2)]
    assert len(puts) == 2
    assert evidence.open_with_quorum(file, members) == clear


def test_a_deposit_resumes_after_the_page_is_reloaded(page, tender, company_user, tmp_path):
    """The tab is reloaded in the middle of the 50 MB upload: the page offers to resume
    from the copy kept (encrypted) in the browser, and sends only what the server lacks."""
    consultation, members = tender
    big = plaintext(BIG)
    _open_deposit_page(page, consultation, company_user)
    _choose(page, tmp_path, {"offer": {"offre.pdf": big}})
    # Once 20 MB are on the server, no chunk gets through until the reload. Without this gate
    # the upload on a fast loopback sometimes ended before the reload, and the resumed page
    # had nothing left to send (the test was flaky: no PUT after the resume).
    gate = {"shut": False}

    def chunks(route):
        if gate["shut"]:
            route.abort("internetdisconnected")
        else:
            route.continue_()

    page.route("**/contenu?offset=*", chunks)
    page.get_by_role("button", name="Chiffrer et envoyer le pli").click()
    _wait_until_received(page, 20 * 1000 * 1000)
    gate["shut"] = True
    expect(page.locator("#depot-waiting")).to_be_visible(timeout=30_000)  # a chunk was refused passage
    # The page asks before leaving while it sends (beforeunload): leave.
    page.on("dialog", lambda dialog: dialog.accept())
    page.reload()
    page.unroute("**/contenu?offset=*")
    held = _received()
    assert held < len(big)
    resume = page.locator("#depot-resume")
    expect(resume).to_be_visible()
    expect(resume).to_contain_text("« offre.pdf »")
    check_page(page, "deposit_resume")
    offsets: list[int] = []
    page.on(
        "request",
        lambda request: (
            offsets.append(int(request.url.rsplit("offset=", 1)[1])) if request.method == "PUT" else None
        ),
    )
    page.get_by_role("button", name="Reprendre l'envoi").click()
    page.wait_for_url(RECEIPT_URL, timeout=UPLOAD_TIMEOUT_MS)
    expect(page.get_by_role("heading", level=1)).to_have_text("Accusé de réception")
    assert offsets[0] >= held > 0  # from where the server stood, not from the start
    _assert_resumed_whole(members, big, [])
    assert Deposit.objects.count() == 1
    # Finished: nothing more to resume, and the browser's copy is gone.
    page.goto(f"/plis/consultation/{consultation.pk}/deposer/")
    expect(page.locator("#depot-resume")).to_be_hidden()
    kept = page.evaluate(
        """async () => {
            const root = await navigator.storage.getDirectory();
            const names = [];
            try {
                const kept = await root.getDirectoryHandle("plis-en-cours");
                for await (const name of kept.keys()) names.push(name);
            } catch { }
            return names;
        }"""
    )
    assert kept == []
