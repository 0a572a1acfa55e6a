"""A company's side of the deposit: the « Déposer un pli » page (the browser encrypts and
uploads through the deposit API, static/offres/src/depot.js), its own deposits, and the
receipt on screen. A company user sees the deposits of their companies and nobody else's."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from comptes.access import get_in_scope_or_404
from marches.models import Consultation

from . import deposits, receipts, registers, simulation, standing
from .models import Deposit

# The browser sends chunks of this size (the server accepts up to DEPOSIT_CHUNK_MAX_BYTES).
BROWSER_CHUNK_BYTES = 4 * 1024 * 1024


def _deposit_page(request: HttpRequest, consultation: Consultation) -> HttpResponse:
    keys = {key.envelope: key for key in consultation.opening_keys.all()}
    companies = list(deposits.companies_of(request.user))
    now = timezone.now()
    # A test pli is never opened: it replaces nothing.
    found = {} if consultation.is_test or not companies else standing.retained(consultation, companies)
    context = {
        "consultation": consultation,
        "simulation": consultation.is_test,
        "companies": companies,
        "lots": list(consultation.lots.order_by("number")),
        "application_key": keys.get("application"),
        "offer_key": keys.get("offer"),
        "refusal": deposits.refusal(consultation),
        "now": now,
        "chunk_bytes": min(BROWSER_CHUNK_BYTES, settings.DEPOSIT_CHUNK_MAX_BYTES),
        # For each company, the plis the opening would read today: a new pli for their lots
        # replaces them, and the page says what it lacks compared with them (offres/standing.py).
        "retained": [(company, found[company.pk]) for company in companies if company.pk in found],
        "replacement_data": standing.replacement_data(found),
    }
    status = 200 if companies else 403
    return render(request, "offres/deposit_new.html", context, status=status)


@login_required
@require_GET
def deposit_new(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = get_in_scope_or_404(
        request, Consultation.objects.public().select_related("buyer").prefetch_related("opening_keys"), pk=pk
    )
    return _deposit_page(request, consultation)


@login_required
@require_GET
def simulation_page(request: HttpRequest) -> HttpResponse:
    """« Simuler un dépôt »: the same page, on the platform's test consultation."""
    return _deposit_page(request, simulation.test_consultation())


@login_required
@require_GET
def deposit_list(request: HttpRequest) -> HttpResponse:
    mine = list(
        Deposit.objects.of_company_member(request.user)
        .select_related("consultation__buyer", "company")
        .prefetch_related("lots")
        .order_by("-started_at")
    )
    # The fate of each received deposit (retenu, remplacé, hors délai), as the register says,
    # from this user's companies' deposits only.
    companies = deposits.companies_of(request.user)
    fates = {}
    for consultation in {d.consultation for d in mine if d.state == Deposit.State.RECEIVED}:
        if consultation.is_test:
            continue
        rows = registers.deposit_register(consultation, companies=companies)
        fates.update({row.deposit.pk: row.status for row in rows})
    rows = [(deposit, fates.get(deposit.pk)) for deposit in mine]
    return render(request, "offres/deposit_list.html", {"rows": rows})


@login_required
@require_GET
def deposit_detail(request: HttpRequest, public_id) -> HttpResponse:
    deposit = get_in_scope_or_404(
        request,
        Deposit.objects.of_company_member(request.user)
        .select_related("consultation__buyer", "company", "created_by", "timestamp")
        .prefetch_related("lots"),
        public_id=public_id,
    )
    context = {"deposit": deposit, "files": deposit.files.order_by("envelope", "name")}
    if deposit.state == Deposit.State.RECEIVED:
        context["fields"] = receipts.legal_fields(deposit)
        context["api"] = f"/api/v1/depots/{deposit.public_id}"
        if deposit.consultation.is_test:
            context["checks"] = deposit.test_report  # None while the check runs
    return render(request, "offres/deposit_detail.html", context)
