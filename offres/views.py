"""Buyer staff's pages in the consultation's back office: the deposit register and its CSV,
and the register of backup copies; and the public page « Vérifier le code de chiffrement »."""

from __future__ import annotations

import csv

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods

from config.errors import ApplicationError
from marches.views import buyer
from preuves import journal

from . import backups, registers
from .bundle import bundle_digest
from .forms import BackupCopyForm, add_service_errors

HEADERS = [
    "Entreprise",
    "Identifiant",
    "Reçu le (heure de Paris)",
    "Lots",
    "Fichiers",
    "Taille (octets)",
    "Hors délai",
    "Remplacé",
    "Sort",
]


@buyer.buyer_staff_required
@require_GET
def deposit_register(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = buyer.consultation_in_scope(request, pk)
    context = {
        "consultation": consultation,
        "state": consultation.current_state,
        "nav": buyer.sub_navigation(consultation, "offres:deposit_register"),
        "rows": registers.deposit_register(consultation),
    }
    return render(request, "offres/deposit_register.html", context)


@buyer.buyer_staff_required
@require_GET
def deposit_register_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    consultation = buyer.consultation_in_scope(request, pk)
    rows = registers.deposit_register(consultation)
    journal.record(
        "deposit.register_exported",
        actor=request.user,
        organisation=consultation.buyer,
        target=consultation,
        payload={"rows": len(rows)},
    )

    def lines():
        writer = csv.writer(buyer.Echo(), delimiter=";")
        yield "\ufeff" + writer.writerow(HEADERS)
        for row in rows:
            company = row.deposit.company
            yield writer.writerow(
                [
                    buyer.cell(company.name),
                    company.siret or company.vat_number or company.national_id,
                    timezone.localtime(row.deposit.received_at).strftime("%d/%m/%Y %H:%M:%S"),
                    " ".join(str(n) for n in row.lots),
                    row.files,
                    row.size,
                    "oui" if row.deposit.late else "non",
                    "oui" if row.superseded else "non",
                    row.status,
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    name = slugify(consultation.reference) or str(consultation.pk)
    response["Content-Disposition"] = f'attachment; filename="registre-depots-{name}.csv"'
    return response


@buyer.buyer_staff_required
@require_http_methods(["GET", "POST"])
def backup_copies(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = buyer.consultation_in_scope(request, pk)
    form = BackupCopyForm(request.POST or None, consultation=consultation)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                copy = backups.backup_copy_register(
                    consultation=consultation, user=request.user, **form.service_fields()
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
                status = buyer.error_status(exc)
            else:
                message = (
                    f"La copie de sauvegarde de « {copy.company_name} », arrivée le "
                    f"{backups.paris_minute(copy.arrived_at)}, est enregistrée."
                )
                if copy.late:
                    message += " Arrivée après la date limite, elle est marquée hors délai."
                messages.success(request, message)
                return redirect("offres:backup_copies", pk=pk)
        else:
            status = 400
    context = {
        "consultation": consultation,
        "state": consultation.current_state,
        "nav": buyer.sub_navigation(consultation, "offres:backup_copies"),
        "copies": backups.backup_copies(consultation),
        "form": form,
    }
    return render(request, "offres/backup_copies.html", context, status=status)


@require_GET
def encryption_code(request: HttpRequest) -> HttpResponse:
    """« Vérifier le code de chiffrement »: the digest of the JavaScript that encrypts bids in
    the browser, as served here, and how to rebuild it from the sources and compare."""
    digest = bundle_digest()
    return render(
        request,
        "offres/encryption_code.html",
        {"digest": digest, "bundle_url": request.build_absolute_uri(static(digest.name))},
    )
