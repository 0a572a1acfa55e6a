"""`manage.py demo` publishes consultations a visitor can search, read and download: real
documents in a tree, one closing within the hour, a draft, a closed one, through the services
so that the journal holds and a re-run changes nothing."""

import csv
import io
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from comptes.identifiers import validate_siret
from comptes.models import Membership, Organisation
from marches import demo, rules
from marches.models import Consultation, DceFile
from marches.storage import open_blob
from preuves import journal
from preuves.models import JournalEntry

pytestmark = pytest.mark.django_db

State = Consultation.State


def _read(dce_file: DceFile) -> bytes:
    with open_blob(dce_file.blob) as handle:
        return handle.read()


def _demo_buyers() -> dict[str, Organisation]:
    return {
        key: Organisation.objects.get(siret=siret)
        for key, siret in [
            ("demoville", "21750000800016"),
            ("ille-et-vilaine", "22359990300018"),
            ("eaux-vallee", "25359990600018"),
        ]
    }


def test_demo_publishes_consultations_of_three_buyers_with_their_staff(capsys):
    call_command("demo")
    out = capsys.readouterr().out

    buyers = Organisation.objects.buyers()
    assert buyers.count() >= 3
    sirets = [b.siret for b in buyers]
    assert len(set(sirets)) == len(sirets)
    for buyer in buyers:
        validate_siret(buyer.siret)
        roles = {m.role: m.user for m in buyer.memberships.select_related("user__totp_device")}
        assert {Membership.Role.BUYER_ADMIN, Membership.Role.BUYER_AGENT} <= set(roles)
        assert all(user.has_two_factor for user in roles.values())
        assert buyer.consultations.public().exists(), buyer.name

    public = Consultation.objects.public()
    assert public.count() >= 8
    assert {c.procedure for c in public} >= {"adapted", "open", "restricted"}
    assert {c.nature for c in public} == {"works", "supplies", "services"}
    assert public.filter(lots__isnull=False).distinct().count() >= 3
    assert public.filter(cpv_additional__isnull=False).distinct().count() >= 3
    assert len({c.departement for c in public}) >= 3
    for consultation in public:
        assert consultation.commission.count() >= 2
        assert consultation.commission.filter(is_president=True).count() == 1
    # Found by the public search (PostgreSQL's full-text vector is filled by the services).
    assert "DV-2026-001" in {c.reference for c in Consultation.objects.public().search("toiture")}
    assert "DV-2026-001" in out
    assert "clôture dans moins d'une heure" in out


def test_published_consultations_have_real_documents_in_folders():
    call_command("demo")
    for consultation in Consultation.objects.public():
        version = consultation.dce_versions.get()
        assert version.is_published
        files = {f.path: f for f in version.files.all()}
        assert {"RC.pdf", "CCAP.pdf", "Pièces techniques/CCTP.pdf"} <= set(files), consultation.reference
        for path, dce_file in files.items():
            content = _read(dce_file)
            assert len(content) == dce_file.size
            assert dce_file.scan_status == DceFile.ScanStatus.NOT_SCANNED  # no clamd: said so
            if path.endswith(".pdf"):
                assert content.startswith(b"%PDF-")
                assert content.rstrip().endswith(b"%%EOF")
        prices = [p for p in files if p.startswith("Pièces financières/") and p.endswith(".csv")]
        assert len(prices) == 1
        rows = list(csv.reader(io.StringIO(_read(files[prices[0]]).decode("utf-8-sig")), delimiter=";"))
        assert rows[0][:2] == ["N°", "Désignation"]
        assert len(rows) >= 3
    works = Consultation.objects.public().get(reference="DV-2026-001")
    assert (
        works.dce_versions.get().files.filter(path="Pièces techniques/Plans/Plan de situation.pdf").exists()
    )


def test_one_closes_within_the_hour_one_is_a_draft_one_is_closed():
    call_command("demo")
    now = timezone.now()
    soon = Consultation.objects.filter(
        state=State.PUBLISHED, deadline__gt=now, deadline__lte=now + timedelta(hours=1)
    )
    assert soon.count() == 1
    assert soon.get().is_open_for_deposits
    assert JournalEntry.objects.filter(action="consultation.published", target_id=str(soon.get().pk)).exists()

    draft = Consultation.objects.get(state=State.DRAFT)
    assert not Consultation.objects.public().filter(pk=draft.pk).exists()
    assert draft.dce_versions.get().files.exists()

    closed = Consultation.objects.get(state=State.CLOSED)
    assert closed.deadline < now
    assert closed.published_at < closed.deadline
    assert JournalEntry.objects.filter(
        action="consultation.transition", target_id=str(closed.pk), payload__to="closed"
    ).exists()
    # The others leave at least the legal minimum, or the usual 15 days of a procédure adaptée.
    for consultation in Consultation.objects.open_for_deposits().exclude(pk=soon.get().pk):
        published = timezone.localdate(consultation.published_at)
        limit = rules.minimum_time_limit(
            procedure=consultation.procedure, authority_type=consultation.authority_type, day=published
        )
        days = (timezone.localdate(consultation.deadline) - published).days
        assert days >= (limit.days if limit else rules.ADAPTED_RECOMMENDED_DAYS), consultation.reference


def test_demo_is_idempotent_and_the_journal_holds(capsys):
    call_command("demo")
    first = capsys.readouterr().out
    counts = (Consultation.objects.count(), DceFile.objects.count(), JournalEntry.objects.count())

    call_command("demo")

    assert capsys.readouterr().out == first
    assert (Consultation.objects.count(), DceFile.objects.count(), JournalEntry.objects.count()) == counts
    result = journal.verify()
    assert result.ok, result.error


def test_a_later_run_publishes_a_new_consultation_closing_soon_once_the_last_one_closed():
    call_command("demo")
    buyers = _demo_buyers()
    later = timezone.now() + timedelta(hours=2)

    consultations = demo.load(buyers=buyers, now=later)

    first = Consultation.objects.get(reference="DV-2026-005")
    assert first.state == State.CLOSED
    relaunched = Consultation.objects.get(reference="DV-2026-005-2")
    assert relaunched in consultations
    assert later < relaunched.deadline <= later + timedelta(hours=1)
    # Nothing else was created again.
    assert Consultation.objects.count() == len(demo.CONSULTATIONS) + 1
    assert journal.verify().ok


def test_with_a_real_antivirus_the_demo_documents_are_scanned_clean(clamav):
    call_command("demo")
    files = DceFile.objects.filter(version__consultation__reference__in=["DV-2026-001", "SEV-2026-004"])
    assert files.count() >= 8
    assert set(files.values_list("scan_status", flat=True)) == {DceFile.ScanStatus.CLEAN}


def test_an_unreachable_antivirus_refuses_the_demo_and_leaves_nothing_behind(settings):
    settings.CLAMD_URL = "tcp://127.0.0.1:9"  # the discard port: nothing listens there
    with pytest.raises(CommandError) as refused:
        call_command("demo")
    assert "Consultations de démonstration refusées" in str(refused.value)
    assert not Consultation.objects.exists()
    assert not Organisation.objects.exists()
    assert not JournalEntry.objects.exists()


def test_without_clamd_the_demo_decides_on_the_record_to_publish_unscanned():
    call_command("demo")
    published = Consultation.objects.public().count()
    entries = JournalEntry.objects.filter(action="dce.unscanned_accepted")
    assert entries.count() == published
    assert all(e.payload["reason"] == demo.DEMO_UNSCANNED_REASON for e in entries)
    entry = JournalEntry.objects.filter(action="consultation.published").first()
    assert entry.payload["rules"]["dce_scan"]["level"] == "warning"


def test_with_clamd_the_demo_documents_are_scanned(clamav):
    call_command("demo")
    assert DceFile.objects.exists()
    assert not DceFile.objects.exclude(scan_status=DceFile.ScanStatus.CLEAN).exists()
    assert not JournalEntry.objects.filter(action="dce.unscanned_accepted").exists()
    entry = JournalEntry.objects.filter(action="consultation.published").first()
    assert entry.payload["rules"]["dce_scan"]["level"] == "ok"
