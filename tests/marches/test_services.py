"""Consultation services: rules enforced at publication, nothing half-saved, every action
journaled, and the lifecycle only moves forward."""

import io
import zipfile
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from config.errors import ApplicationError
from marches import checks, services
from marches.models import CommissionSeat, Consultation, CpvCode, DceDownload, DceFile, DceVersion, Lot
from preuves import journal
from preuves.models import JournalEntry

from ..factories import ConsultationFactory, MembershipFactory

pytestmark = pytest.mark.django_db

EICAR = b"X5O!P%@AP[4\\PZX54(P^)7CC)7}$" + b"EICAR-STANDARD-ANTIVIRUS-TEST-FILE!$H+H*"


def _fields(**overrides):
    fields = {
        "reference": "2026-TX-01",
        "title": "Réfection de la toiture du groupe scolaire",
        "description": "Couverture en zinc, isolation des combles.",
        "nature": "works",
        "procedure": "adapted",
        "cpv_main": CpvCode.objects.get(code="45261000"),
        "place_code": "35238",
        "estimated_value": Decimal(180_000),
        "deadline": timezone.now() + timedelta(days=21),
        "contact_name": "Service marchés",
        "contact_email": "marches@demoville.fr",
    }
    fields.update(overrides)
    return fields


TEST_REASON = "Essai automatisé : aucun antivirus dans cet environnement de test."


def publishable(membership, **overrides):
    """A draft with a commission of three enrolled members (second factor and ceremony
    passphrase) and one DCE file: everything publication checks."""
    agent, buyer = membership.user, membership.organisation
    consultation = services.consultation_create(buyer=buyer, created_by=agent, **_fields(**overrides))
    members = [
        MembershipFactory(
            organisation=buyer, role="commission_member", user__totp=True, user__ceremony=True
        ).user
        for _ in range(3)
    ]
    services.commission_set(
        consultation=consultation, updated_by=agent, members=members, president=members[0], quorum=2
    )
    services.dce_add_files(
        consultation=consultation, added_by=agent, uploads=[("RC.pdf", io.BytesIO(b"%PDF rc"))]
    )
    if checks.unscanned_files(consultation.dce_versions.get())[0]:
        # No clamd in this test (the `clamav` fixture gives one): the buyer's decision.
        services.dce_unscanned_accept(consultation=consultation, accepted_by=agent, reason=TEST_REASON)
    return consultation, members


@pytest.fixture
def ready(buyer_agent):
    return publishable(buyer_agent)[0]


def _errors(exc) -> str:
    return exc.value.message


# --- Creation and edits -----------------------------------------------------------------------


def test_create_journals_and_prepares_dce_version_1(buyer_agent):
    c = services.consultation_create(buyer=buyer_agent.organisation, created_by=buyer_agent.user, **_fields())
    assert c.state == Consultation.State.DRAFT
    assert c.departement == "35"
    assert c.max_deposit_bytes > 0
    assert list(c.dce_versions.values_list("number", "published_at")) == [(1, None)]
    entry = JournalEntry.objects.get(action="consultation.created")
    assert entry.target_id == str(c.pk)
    assert entry.actor_id == buyer_agent.user.pk


def test_company_user_cannot_create(company_admin, buyer_agent):
    with pytest.raises(ApplicationError) as exc:
        services.consultation_create(
            buyer=buyer_agent.organisation, created_by=company_admin.user, **_fields()
        )
    assert exc.value.status == 403
    assert not Consultation.objects.exists()


def test_agent_of_another_buyer_cannot_edit(buyer_agent):
    other = MembershipFactory(buyer_agent=True).user
    c = ConsultationFactory(buyer=buyer_agent.organisation)
    with pytest.raises(ApplicationError):
        services.consultation_update(consultation=c, updated_by=other, title="Piraté")
    c.refresh_from_db()
    assert c.title != "Piraté"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"place_code": "99"}, "ni un numéro de département"),
        ({"reference": ""}, "Ce champ ne peut pas être vide"),
        ({"questions_deadline": timezone.now() + timedelta(days=60)}, "date limite des questions"),
    ],
)
def test_bad_input_refused_in_french_and_nothing_saved(buyer_agent, overrides, message):
    with pytest.raises(ApplicationError) as exc:
        services.consultation_create(
            buyer=buyer_agent.organisation, created_by=buyer_agent.user, **_fields(**overrides)
        )
    assert message in _errors(exc)
    assert not Consultation.objects.exists()
    assert not DceVersion.objects.exists()


def test_reference_unique_per_buyer(buyer_agent):
    services.consultation_create(buyer=buyer_agent.organisation, created_by=buyer_agent.user, **_fields())
    with pytest.raises(ApplicationError) as exc:
        services.consultation_create(buyer=buyer_agent.organisation, created_by=buyer_agent.user, **_fields())
    assert "déjà cette référence" in _errors(exc)
    other = MembershipFactory(buyer_agent=True)
    services.consultation_create(buyer=other.organisation, created_by=other.user, **_fields())


def test_lots_set_value_to_their_sum(buyer_agent):
    c = services.consultation_create(buyer=buyer_agent.organisation, created_by=buyer_agent.user, **_fields())
    services.lots_set(
        consultation=c,
        updated_by=buyer_agent.user,
        lots=[
            services.LotInput(1, "Couverture", Decimal(90_000)),
            services.LotInput(2, "Isolation", Decimal(40_000)),
        ],
    )
    c.refresh_from_db()
    assert c.estimated_value == Decimal(130_000)
    with pytest.raises(ApplicationError, match="au moins deux lots"):
        services.lots_set(
            consultation=c, updated_by=buyer_agent.user, lots=[services.LotInput(1, "Seul", Decimal(1))]
        )
    with pytest.raises(ApplicationError, match="même numéro"):
        services.lots_set(
            consultation=c,
            updated_by=buyer_agent.user,
            lots=[services.LotInput(1, "A", Decimal(1)), services.LotInput(1, "B", Decimal(1))],
        )
    assert Lot.objects.filter(consultation=c).count() == 2


def test_commission_rules(buyer_agent):
    agent, buyer = buyer_agent.user, buyer_agent.organisation
    c = services.consultation_create(buyer=buyer, created_by=agent, **_fields())
    members = [MembershipFactory(organisation=buyer, role="commission_member").user for _ in range(2)]
    outsider = MembershipFactory(commission_member=True).user  # another buyer's commission
    with pytest.raises(ApplicationError, match="quorum"):
        services.commission_set(
            consultation=c, updated_by=agent, members=members, president=members[0], quorum=3
        )
    with pytest.raises(ApplicationError, match="Ne sont pas membres"):
        services.commission_set(
            consultation=c, updated_by=agent, members=[*members, outsider], president=members[0], quorum=2
        )
    with pytest.raises(ApplicationError, match="au moins deux"):
        services.commission_set(
            consultation=c, updated_by=agent, members=members[:1], president=members[0], quorum=2
        )
    services.commission_set(consultation=c, updated_by=agent, members=members, president=members[1], quorum=2)
    assert CommissionSeat.objects.get(consultation=c, is_president=True).member == members[1]


# --- Publication rules ------------------------------------------------------------------------


def test_publish(ready, buyer_agent):
    c = services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    assert c.state == Consultation.State.PUBLISHED
    assert c.published_at
    assert c.published_by == buyer_agent.user
    assert c.dce_versions.get(number=1).published_at == c.published_at
    actions = list(JournalEntry.objects.values_list("action", flat=True))
    assert "dce.version_published" in actions
    assert "consultation.transition" in actions
    published = JournalEntry.objects.get(action="consultation.published")
    assert published.payload["rules"]["threshold_eu"]["level"] == "ok"
    assert journal.verify().ok


def _refused(consultation, user, **changes):
    Consultation.objects.filter(pk=consultation.pk).update(**changes)
    consultation.refresh_from_db()
    with pytest.raises(ApplicationError) as exc:
        services.consultation_publish(consultation=consultation, published_by=user)
    consultation.refresh_from_db()
    assert consultation.state == Consultation.State.DRAFT
    assert consultation.dce_versions.get(number=1).published_at is None
    return exc.value


def test_value_below_the_dematerialisation_threshold_refused(ready, buyer_agent):
    error = _refused(ready, buyer_agent.user, estimated_value=Decimal(39_999))
    assert "inférieure à 40\u202f000 € HT" in error.message
    assert "décret n° 2019-1344" in error.message
    assert "threshold_dematerialisation" in error.details


def test_adapted_procedure_above_eu_threshold_refused_with_all_lots_counted(ready, buyer_agent):
    # Two lots under the threshold each, above it together (supplies, local authority: 216 k€).
    Consultation.objects.filter(pk=ready.pk).update(nature="supplies", cpv_main="30192000")
    Lot.objects.create(consultation=ready, number=1, title="A", estimated_value=Decimal(120_000))
    Lot.objects.create(consultation=ready, number=2, title="B", estimated_value=Decimal(120_000))
    ready.refresh_from_db()
    with pytest.raises(ApplicationError) as exc:
        services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    assert "240\u202f000 €" in exc.value.message
    assert "216\u202f000 €" in exc.value.message
    assert "R2123-1" in exc.value.message


def test_works_threshold(ready, buyer_agent):
    error = _refused(ready, buyer_agent.user, estimated_value=Decimal(5_404_000))
    assert "5\u202f404\u202f000 €" in error.message


def test_open_procedure_needs_thirty_days(ready, buyer_agent):
    error = _refused(
        ready,
        buyer_agent.user,
        procedure="open",
        estimated_value=Decimal(6_000_000),
        deadline=timezone.now() + timedelta(days=20),
    )
    assert "minimum est de 30 jours" in error.message
    assert "R2161-2" in error.message


def test_open_procedure_with_thirty_days_is_published(ready, buyer_agent):
    Consultation.objects.filter(pk=ready.pk).update(
        procedure="open", estimated_value=Decimal(6_000_000), deadline=timezone.now() + timedelta(days=31)
    )
    ready.refresh_from_db()
    assert (
        services.consultation_publish(consultation=ready, published_by=buyer_agent.user).state == "published"
    )


def test_deadline_in_the_past_refused(ready, buyer_agent):
    error = _refused(ready, buyer_agent.user, deadline=timezone.now() - timedelta(minutes=1))
    assert "est passée" in error.message


def test_adapted_procedure_short_deadline_is_only_a_warning(ready, buyer_agent):
    from marches.checks import publication_report

    Consultation.objects.filter(pk=ready.pk).update(deadline=timezone.now() + timedelta(days=5))
    ready.refresh_from_db()
    report = publication_report(ready)
    assert report.ok
    assert [w.code for w in report.warnings] == ["deadline", "dce_scan"]  # dce_scan: accepted unscanned
    services.consultation_publish(consultation=ready, published_by=buyer_agent.user)


def test_commission_member_without_second_factor_blocks_publication(ready, buyer_agent):
    member = ready.commission.exclude(is_president=True).first().member
    member.totp_device.delete()
    with pytest.raises(ApplicationError) as exc:
        services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    assert "double authentification" in exc.value.message
    assert member.last_name in exc.value.message


def test_commission_member_who_left_blocks_publication(ready, buyer_agent):
    seat = ready.commission.exclude(is_president=True).first()
    seat.member.memberships.all().delete()
    with pytest.raises(ApplicationError, match="ne sont plus membres"):
        services.consultation_publish(consultation=ready, published_by=buyer_agent.user)


def test_empty_dce_blocks_publication(ready, buyer_agent):
    DceFile.objects.filter(version__consultation=ready).delete()
    with pytest.raises(ApplicationError, match="au moins un document"):
        services.consultation_publish(consultation=ready, published_by=buyer_agent.user)


def test_rules_of_the_publication_day_apply(ready, buyer_agent):
    """A consultation published in 2025 was checked against the 2024-2025 thresholds."""
    from datetime import UTC, datetime

    from marches.checks import publication_report

    Consultation.objects.filter(pk=ready.pk).update(
        nature="services", cpv_main="72000000", estimated_value=Decimal(218_000)
    )
    ready.refresh_from_db()
    at_2025 = datetime(2025, 6, 1, 10, tzinfo=UTC)
    at_2026 = datetime(2026, 6, 1, 10, tzinfo=UTC)
    Consultation.objects.filter(pk=ready.pk).update(deadline=at_2025 + timedelta(days=20))
    ready.refresh_from_db()
    assert publication_report(ready, at=at_2025).ok  # 218 k€ < 221 k€ in 2025
    Consultation.objects.filter(pk=ready.pk).update(deadline=at_2026 + timedelta(days=20))
    ready.refresh_from_db()
    assert "threshold_eu" in [c.code for c in publication_report(ready, at=at_2026).errors]  # ≥ 216 k€


def test_published_consultation_is_not_edited_in_place(ready, buyer_agent):
    services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    with pytest.raises(ApplicationError) as exc:
        services.consultation_update(consultation=ready, updated_by=buyer_agent.user, deadline=timezone.now())
    assert exc.value.status == 409
    assert "avis rectificatif" in exc.value.message


# --- Amendments and DCE versions --------------------------------------------------------------


def test_amend_deadline_without_new_dce_version_refused(ready, buyer_agent):
    c = services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    new_deadline = c.deadline + timedelta(days=7)
    with pytest.raises(ApplicationError) as exc:
        services.consultation_amend(
            consultation=c, amended_by=buyer_agent.user, note="Report", deadline=new_deadline
        )
    assert exc.value.code == "dce_version_required"
    c.refresh_from_db()
    assert c.deadline != new_deadline


def test_amend_with_new_version_notifies_register(
    ready, buyer_agent, django_capture_on_commit_callbacks, mailoutbox
):
    c = services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    v1 = c.dce_versions.get()
    services.dce_download_record(consultation=c, version=v1, email="Bidder@Example.fr", name="Paul")
    services.dce_add_files(
        consultation=c, added_by=buyer_agent.user, uploads=[("RC.pdf", io.BytesIO(b"%PDF rc rectifie"))]
    )
    new_deadline = c.deadline + timedelta(days=7)
    with django_capture_on_commit_callbacks(execute=True):
        services.consultation_amend(
            consultation=c,
            amended_by=buyer_agent.user,
            note="Report de la date limite",
            deadline=new_deadline,
        )
    c.refresh_from_db()
    assert c.deadline == new_deadline
    versions = list(c.dce_versions.order_by("number"))
    assert [v.number for v in versions] == [1, 2]
    assert all(v.published_at for v in versions)
    # The old version is kept unchanged.
    assert versions[0].files.get().size == len(b"%PDF rc")
    assert versions[1].files.get().size == len(b"%PDF rc rectifie")
    assert [m.to for m in mailoutbox] == [["bidder@example.fr"]]
    assert "version 2" in mailoutbox[0].subject


def test_amend_cannot_change_the_procedure(ready, buyer_agent):
    c = services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    with pytest.raises(ApplicationError, match="procedure"):
        services.consultation_amend(consultation=c, amended_by=buyer_agent.user, note="x", procedure="open")


def test_published_version_is_frozen(ready, buyer_agent):
    c = services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    with pytest.raises(ApplicationError, match="nouvelle version"):
        services.dce_remove_file(dce_file=c.dce_versions.get().files.get(), removed_by=buyer_agent.user)


def test_zip_is_unpacked_with_its_tree(ready, buyer_agent):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("Pièces techniques/Plans/plan.pdf", b"plan")
        archive.writestr("CCTP.pdf", b"cctp")
    services.dce_add_files(consultation=ready, added_by=buyer_agent.user, uploads=[("dce.zip", buffer)])
    paths = set(DceFile.objects.filter(version__consultation=ready).values_list("path", flat=True))
    assert paths == {"RC.pdf", "CCTP.pdf", "Pièces techniques/Plans/plan.pdf"}


def test_path_traversal_refused_and_nothing_imported(ready, buyer_agent):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("ok.pdf", b"ok")
        archive.writestr("../../etc/passwd", b"x")
    with pytest.raises(ApplicationError, match="chemin"):
        services.dce_add_files(consultation=ready, added_by=buyer_agent.user, uploads=[("dce.zip", buffer)])
    assert DceFile.objects.filter(version__consultation=ready).count() == 1


def test_without_scanner_files_are_marked_not_scanned(ready):
    assert DceFile.objects.get(version__consultation=ready).scan_status == DceFile.ScanStatus.NOT_SCANNED


def test_infected_file_refused_named_and_journaled(ready, buyer_agent, clamav):
    with pytest.raises(ApplicationError) as exc:
        services.dce_add_files(
            consultation=ready,
            added_by=buyer_agent.user,
            uploads=[("CCAP.pdf", io.BytesIO(b"%PDF clean")), ("Annexe.com", io.BytesIO(EICAR))],
        )
    assert "« Annexe.com »" in exc.value.message
    assert DceFile.objects.filter(version__consultation=ready).count() == 1  # nothing from that batch
    entry = JournalEntry.objects.get(action="dce.infected_refused")
    assert entry.payload["files"][0]["path"] == "Annexe.com"
    services.dce_add_files(
        consultation=ready, added_by=buyer_agent.user, uploads=[("CCAP.pdf", io.BytesIO(b"%PDF clean"))]
    )
    assert DceFile.objects.get(path="CCAP.pdf").scan_status == DceFile.ScanStatus.CLEAN


def test_same_content_stored_once(ready, buyer_agent):
    services.dce_add_files(
        consultation=ready, added_by=buyer_agent.user, uploads=[("copie.pdf", io.BytesIO(b"%PDF rc"))]
    )
    blobs = set(DceFile.objects.filter(version__consultation=ready).values_list("blob", flat=True))
    assert len(blobs) == 1


# --- Lifecycle ----------------------------------------------------------------------------------


def test_deadline_closes_on_read_and_task_records_it(ready, buyer_agent):
    c = services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    Consultation.objects.filter(pk=c.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    c.refresh_from_db()
    assert c.state == "published"
    assert c.current_state == "closed"
    assert not c.is_open_for_deposits
    assert not Consultation.objects.open_for_deposits().filter(pk=c.pk).exists()
    assert services.consultations_close_expired() == 1
    assert services.consultations_close_expired() == 0
    c.refresh_from_db()
    assert c.state == "closed"
    entry = JournalEntry.objects.filter(action="consultation.transition").last()
    assert entry.payload == {
        "from": "published",
        "to": "closed",
        "reason": "date limite de remise des plis atteinte",
    }


def test_close_task_runs(ready, buyer_agent):
    from marches.tasks import close_expired

    services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    Consultation.objects.filter(pk=ready.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    assert close_expired.delay().get() == 1


def test_nothing_moves_backwards(buyer_agent):
    c = ConsultationFactory(buyer=buyer_agent.organisation, closed=True)
    with pytest.raises(ApplicationError, match="ne peut pas passer"):
        services.consultation_declare(consultation=c, declared_by=buyer_agent.user, outcome="awarded")
    services.consultation_declare(
        consultation=c, declared_by=buyer_agent.user, outcome="discontinued", reason="Besoin disparu"
    )
    c.refresh_from_db()
    assert c.state == "discontinued"
    from marches import workflow

    with pytest.raises(ApplicationError):
        workflow.transition(c, "published")
    with pytest.raises(ApplicationError):
        workflow.transition(c, "draft")
    services.consultation_declare(consultation=c, declared_by=buyer_agent.user, outcome="archived")
    assert workflow.allowed_targets(Consultation.objects.get(pk=c.pk)) == frozenset()


def test_discontinued_needs_a_reason(buyer_agent):
    c = ConsultationFactory(buyer=buyer_agent.organisation, published=True)
    with pytest.raises(ApplicationError, match="motif"):
        services.consultation_declare(consultation=c, declared_by=buyer_agent.user, outcome="discontinued")


def test_every_transition_in_the_table_is_reachable_and_none_goes_back():
    from marches.workflow import TRANSITIONS

    order = list(Consultation.State.values)
    for source, targets in TRANSITIONS.items():
        for target in targets:
            assert order.index(target) > order.index(source), (source, target)


# --- Download register ------------------------------------------------------------------------


def test_download_record(company_admin):
    c = ConsultationFactory(published=True)
    version = c.dce_versions.get()
    assert services.dce_download_record(consultation=c, version=version) is None
    row = services.dce_download_record(consultation=c, version=version, user=company_admin.user)
    assert row.organisation == company_admin.organisation
    assert row.company_name == company_admin.organisation.name
    assert row.email == company_admin.user.email
    assert DceDownload.objects.count() == 1
    assert JournalEntry.objects.filter(action="dce.downloaded").count() == 1


def test_anonymous_user_object_records_nothing():
    from django.contrib.auth.models import AnonymousUser

    c = ConsultationFactory(published=True)
    assert (
        services.dce_download_record(consultation=c, version=c.dce_versions.get(), user=AnonymousUser())
        is None
    )


def test_preparing_a_new_version_and_exporting_the_register_are_journaled(ready, buyer_agent):
    c = services.consultation_publish(consultation=ready, published_by=buyer_agent.user)
    version = services.dce_version_prepare(consultation=c, prepared_by=buyer_agent.user)
    assert version.number == 2
    assert list(version.files.values_list("path", flat=True)) == ["RC.pdf"]
    assert services.dce_version_prepare(consultation=c, prepared_by=buyer_agent.user) == version
    assert JournalEntry.objects.filter(action="dce.version_prepared").count() == 1
    services.dce_download_record(consultation=c, version=c.dce_versions.get(number=1), email="a@b.fr")
    rows = services.download_register_export(consultation=c, exported_by=buyer_agent.user)
    assert [r.email for r in rows] == ["a@b.fr"]
    assert JournalEntry.objects.get(action="dce.register_exported").payload == {"rows": 1}
    outsider = MembershipFactory(buyer_agent=True).user
    with pytest.raises(ApplicationError):
        services.download_register_export(consultation=c, exported_by=outsider)
