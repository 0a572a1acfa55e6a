"""The buyer's back office: consultations, lots, commission, DCE, publication, amendments,
download register and outcome.

Thin views (STYLE.md): they parse forms, call marches/services.py and turn an ApplicationError
into a French message on the page. Every consultation is fetched through
`Consultation.objects.managed_by(user)`, so another buyer's id answers 404 and leaves an
`access.denied` entry in the journal."""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from functools import wraps

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count, F, IntegerField, OuterRef, Subquery
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from comptes.access import get_in_scope_or_404
from comptes.models import Organisation
from config.errors import ApplicationError

from .. import checks, services, workflow
from ..forms import (
    PARIS,
    AmendForm,
    CommissionForm,
    ConsultationForm,
    DceUploadForm,
    DeclareForm,
    LotFormSet,
    UnscannedAcceptForm,
    add_service_errors,
    commission_candidates,
)
from ..models import Consultation, CpvCode, DceDownload, DceFile, DceVersion, Lot

State = Consultation.State
LIST_PAGE_SIZE = 25
REGISTER_PAGE_SIZE = 50
CPV_RESULTS = 20


# --- Access -----------------------------------------------------------------------------------


def buyer_staff_required(view: Callable) -> Callable:
    """Logged in, and administrator or agent of at least one buyer. Others get a French 403
    page (the second factor is already enforced by comptes' middleware)."""

    @wraps(view)
    @login_required
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if not Organisation.objects.staffed_by(request.user).exists():
            return render(request, "marches/buyer/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


def _consultation(request: HttpRequest, pk: int) -> Consultation:
    queryset = Consultation.objects.managed_by(request.user).select_related("buyer", "cpv_main")
    return get_in_scope_or_404(request, queryset, pk=pk)


def error_status(exc: ApplicationError) -> int:
    """The HTTP status a page answers a refused service call with (a 4xx, never a 5xx)."""
    return exc.status if 400 <= exc.status < 500 else 400


# --- Sub-navigation ---------------------------------------------------------------------------


# Pages other apps add to a published consultation's sub-navigation, as (URL name, label):
# offres adds the deposit register (offres.apps). marches does not import offres.
EXTRA_NAV: list[tuple[str, str]] = []


def _nav(consultation: Consultation, active: str) -> list[dict]:
    state = consultation.current_state
    items = [("buyer_detail", "Résumé")]
    if state == State.DRAFT:
        items.append(("buyer_edit", "Informations"))
    elif state == State.PUBLISHED:
        items.append(("buyer_amend", "Avis rectificatif"))
    items += [
        ("buyer_lots", "Lots"),
        ("buyer_commission", "Commission d'ouverture"),
        ("buyer_dce", "Dossier de consultation (DCE)"),
    ]
    if state == State.DRAFT:
        items.append(("buyer_publish", "Publication"))
    else:
        items.append(("buyer_register", "Registre des retraits"))
    items = [(f"marches:{name}", label) for name, label in items]
    if state != State.DRAFT:
        items += EXTRA_NAV
    return [
        {
            "label": label,
            "link": reverse(name, args=[consultation.pk]),
            "is_active": name in (active, f"marches:{active}"),
        }
        for name, label in items
    ]


# For the back-office pages of other apps (offres): the same scoped fetch, sub-navigation
# and CSV cells as these pages.
def consultation_in_scope(request: HttpRequest, pk: int) -> Consultation:
    return _consultation(request, pk)


def sub_navigation(consultation: Consultation, active: str) -> list[dict]:
    return _nav(consultation, active)


def _page(
    request: HttpRequest,
    consultation: Consultation,
    active: str,
    template: str,
    context: dict | None = None,
    *,
    status: int = 200,
) -> HttpResponse:
    context = {
        "consultation": consultation,
        "state": consultation.current_state,
        "nav": _nav(consultation, active),
        **(context or {}),
    }
    return render(request, f"marches/buyer/{template}", context, status=status)


# --- List, create, edit -----------------------------------------------------------------------


def _count(queryset, key: str) -> Coalesce:
    """A per-row count as a subquery: no join multiplies the other counts, no N+1."""
    counted = queryset.order_by().values(key).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


@buyer_staff_required
@require_GET
def buyer_list(request: HttpRequest) -> HttpResponse:
    latest_version = (
        DceVersion.objects.filter(consultation=OuterRef(OuterRef("pk")))
        .order_by("-number")
        .values("number")[:1]
    )
    consultations = (
        Consultation.objects.managed_by(request.user)
        .select_related("buyer")
        .annotate(
            lot_count=_count(Lot.objects.filter(consultation=OuterRef("pk")), "consultation"),
            download_count=_count(DceDownload.objects.filter(consultation=OuterRef("pk")), "consultation"),
            dce_file_count=_count(
                DceFile.objects.filter(
                    version__consultation=OuterRef("pk"), version__number=Subquery(latest_version)
                ),
                "version",
            ),
        )
        .order_by(F("published_at").desc(nulls_first=True), "-created_at", "-pk")
    )
    page = Paginator(consultations, LIST_PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "marches/buyer/list.html",
        {
            "page": page,
            "several_buyers": Organisation.objects.staffed_by(request.user).count() > 1,
            "wide": True,
        },
    )


@buyer_staff_required
@require_http_methods(["GET", "POST"])
def buyer_create(request: HttpRequest) -> HttpResponse:
    form = ConsultationForm(request.POST or None, user=request.user)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                consultation = services.consultation_create(
                    buyer=form.cleaned_data["buyer"],
                    created_by=request.user,
                    cpv_additional=form.cleaned_data["cpv_additional"],
                    **form.service_fields(),
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
                status = error_status(exc)
            else:
                messages.success(
                    request,
                    f"Le brouillon « {consultation.reference} » est créé. Prochaines étapes : lots "
                    "(facultatif), commission d'ouverture, DCE, puis publication.",
                )
                return redirect("marches:buyer_detail", pk=consultation.pk)
        else:
            status = 400
    return render(request, "marches/buyer/form.html", {"form": form, "creating": True}, status=status)


@buyer_staff_required
@require_http_methods(["GET", "POST"])
def buyer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    if not consultation.is_draft:
        if consultation.current_state == State.PUBLISHED:
            messages.info(
                request,
                "Cette consultation est publiée : elle ne se modifie plus que par un avis rectificatif "
                "accompagné d'une nouvelle version du DCE.",
            )
            return redirect("marches:buyer_amend", pk=pk)
        messages.info(request, "Cette consultation n'est plus modifiable.")
        return redirect("marches:buyer_detail", pk=pk)
    form = ConsultationForm(request.POST or None, user=request.user, instance=consultation)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.consultation_update(
                    consultation=consultation,
                    updated_by=request.user,
                    cpv_additional=form.cleaned_data["cpv_additional"],
                    **form.service_fields(),
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
                status = error_status(exc)
            else:
                messages.success(request, "Les informations de la consultation sont enregistrées.")
                return redirect("marches:buyer_detail", pk=pk)
        else:
            status = 400
    return _page(request, consultation, "buyer_edit", "form.html", {"form": form}, status=status)


# --- Detail and outcome -----------------------------------------------------------------------


def _outcome_choices(consultation: Consultation) -> list[tuple[str, str]]:
    # "opened" belongs to the opening ceremony, "closed" to the deadline: neither is declared here.
    allowed = workflow.allowed_targets(consultation)
    return [(outcome.value, outcome.label) for outcome in services.OUTCOMES if outcome in allowed]


@buyer_staff_required
@require_GET
def buyer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    seats = list(consultation.commission.select_related("member__totp_device"))
    versions = list(consultation.dce_versions.annotate(file_count=Count("files")).order_by("-number"))
    working = next((v for v in versions if not v.is_published), None)
    report = checks.publication_report(consultation) if consultation.is_draft else None
    checks_by_code = {c.code: c for c in report.checks} if report else {}
    choices = _outcome_choices(consultation)
    context = {
        "lots": list(consultation.lots.select_related("cpv")),
        "seats": seats,
        "commission_names": ", ".join(
            (seat.member.get_full_name() or seat.member.email) + (" (président)" if seat.is_president else "")
            for seat in seats
        ),
        "versions": versions,
        "working": working,
        "published_versions": [v for v in versions if v.is_published],
        "download_count": consultation.downloads.count(),
        "report": report,
        "commission_check": checks_by_code.get("commission"),
        "dce_check": checks_by_code.get("dce"),
        "dce_scan_check": checks_by_code.get("dce_scan"),
        "cpv_additional": list(consultation.cpv_additional.all()),
        "declare_form": DeclareForm(choices=choices) if choices else None,
    }
    return _page(request, consultation, "buyer_detail", "detail.html", context)


@buyer_staff_required
@require_POST
def buyer_declare(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    form = DeclareForm(request.POST, choices=_outcome_choices(consultation))
    if not form.is_valid():
        if "outcome" in form.errors:
            messages.error(request, "Choisissez une décision possible pour cette consultation.")
        for error in form.errors.get("reason", []):
            messages.error(request, error)
        return redirect("marches:buyer_detail", pk=pk)
    try:
        consultation = services.consultation_declare(
            consultation=consultation,
            declared_by=request.user,
            outcome=form.cleaned_data["outcome"],
            reason=form.cleaned_data["reason"],
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"La consultation est désormais « {consultation.get_current_state_display()} »."
        )
    return redirect("marches:buyer_detail", pk=pk)


# --- Lots ---------------------------------------------------------------------------------------


def _lot_initial(consultation: Consultation) -> list[dict]:
    return [
        {
            "number": lot.number,
            "title": lot.title,
            "cpv": lot.cpv,
            "estimated_value": lot.estimated_value,
            "description": lot.description,
        }
        for lot in consultation.lots.select_related("cpv")
    ]


def _next_lot_number(initial: list[dict]) -> int:
    return max((lot["number"] for lot in initial), default=0) + 1


def _lot_formset(data, initial: list[dict]) -> LotFormSet:
    formset = LotFormSet(data, initial=initial)
    # A new lot gets the next number by default; an extra form left as shown stays empty.
    next_number = _next_lot_number(initial)
    for offset, form in enumerate(formset.extra_forms):
        form.fields["number"].initial = next_number + offset
    return formset


@buyer_staff_required
@require_http_methods(["GET", "POST"])
def buyer_lots(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    initial = _lot_initial(consultation)
    editable = consultation.is_draft
    context = {"editable": editable, "lots": initial}
    if not editable:
        return _page(request, consultation, "buyer_lots", "lots.html", context)
    status = 200
    if request.method == "POST" and "single" in request.POST:
        try:
            services.lots_set(consultation=consultation, updated_by=request.user, lots=[])
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, "La consultation n'est plus allotie : c'est un marché unique.")
        return redirect("marches:buyer_lots", pk=pk)
    if request.method == "POST":
        data = request.POST.copy()
        if "add_lot" in data:
            # Without JavaScript: one more form, nothing saved yet. Its number is filled in as
            # shown, so that the new form counts as untouched (no "required" errors on it).
            prefix = LotFormSet().prefix
            try:
                total = int(data.get(f"{prefix}-TOTAL_FORMS", ""))
                initial_count = int(data.get(f"{prefix}-INITIAL_FORMS", ""))
            except ValueError:
                total = initial_count = 0
            data[f"{prefix}-{total}-number"] = str(_next_lot_number(initial) + total - initial_count)
            data[f"{prefix}-TOTAL_FORMS"] = str(total + 1)
            formset = _lot_formset(data, initial)
        else:
            formset = _lot_formset(data, initial)
            if formset.is_valid():
                lots = [
                    services.LotInput(
                        number=form.cleaned_data["number"],
                        title=form.cleaned_data["title"],
                        estimated_value=form.cleaned_data["estimated_value"],
                        cpv=form.cleaned_data["cpv"],
                        description=form.cleaned_data["description"],
                    )
                    for form in formset.kept_forms()
                ]
                try:
                    services.lots_set(consultation=consultation, updated_by=request.user, lots=lots)
                except ApplicationError as exc:
                    context["service_error"] = exc.message
                    status = error_status(exc)
                else:
                    messages.success(
                        request,
                        f"{len(lots)} lots enregistrés."
                        if lots
                        else "Aucun lot : la consultation est un marché unique.",
                    )
                    return redirect("marches:buyer_lots", pk=pk)
            else:
                status = 400
    else:
        formset = _lot_formset(None, initial)
    context["formset"] = formset
    return _page(request, consultation, "buyer_lots", "lots.html", context, status=status)


# --- Commission ---------------------------------------------------------------------------------


@buyer_staff_required
@require_http_methods(["GET", "POST"])
def buyer_commission(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    seats = list(consultation.commission.select_related("member__totp_device"))
    candidates = list(commission_candidates(consultation.buyer))
    editable = consultation.is_draft
    initial = {
        "members": [seat.member for seat in seats],
        "president": next((seat.member for seat in seats if seat.is_president), None),
        "quorum": consultation.quorum,
    }
    form = CommissionForm(
        request.POST if request.method == "POST" and editable else None,
        buyer=consultation.buyer,
        initial=initial,
    )
    status = 200
    if form.is_bound:
        if form.is_valid():
            try:
                services.commission_set(
                    consultation=consultation,
                    updated_by=request.user,
                    members=list(form.cleaned_data["members"]),
                    president=form.cleaned_data["president"],
                    quorum=form.cleaned_data["quorum"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = error_status(exc)
            else:
                messages.success(request, "La commission d'ouverture est enregistrée.")
                return redirect("marches:buyer_commission", pk=pk)
        else:
            status = 400
    if form.is_bound:
        selected = set(form.data.getlist("members"))
        president = form.data.get("president", "")
    else:
        selected = {str(seat.member_id) for seat in seats}
        president = str(initial["president"].pk) if initial["president"] else ""
    context = {
        "form": form,
        "editable": editable,
        "seats": seats,
        "candidates": [
            {"user": user, "checked": str(user.pk) in selected, "president": str(user.pk) == president}
            for user in candidates
        ],
        "quorum_value": form.data.get("quorum") if form.is_bound else consultation.quorum,
    }
    return _page(request, consultation, "buyer_commission", "commission.html", context, status=status)


# --- DCE ------------------------------------------------------------------------------------------


def _dce_context(consultation: Consultation, form: DceUploadForm) -> dict:
    versions = list(consultation.dce_versions.annotate(file_count=Count("files")).order_by("-number"))
    working = next((v for v in versions if not v.is_published), None)
    published = [v for v in versions if v.is_published]
    shown = working or (published[0] if published else None)
    state = consultation.current_state
    files = list(shown.files.all()) if shown else []
    return {
        "form": form,
        "working": working,
        "shown": shown,
        "files": files,
        "unscanned": any(f.scan_status != DceFile.ScanStatus.CLEAN for f in files),
        "acceptances": list(shown.unscanned_acceptances.select_related("accepted_by")) if shown else [],
        "published_versions": published,
        "editable": state in (State.DRAFT, State.PUBLISHED),
        "next_number": (published[0].number + 1) if published else 1,
    }


@buyer_staff_required
@require_http_methods(["GET", "POST"])
def buyer_dce(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    status = 200
    form = DceUploadForm()
    if request.method == "POST" and request.POST.get("action") == "new_version":
        try:
            version = services.dce_version_prepare(consultation=consultation, prepared_by=request.user)
        except ApplicationError as exc:
            messages.error(request, exc.message)
        else:
            messages.success(request, f"La version {version.number} du DCE est en préparation.")
        return redirect("marches:buyer_dce", pk=pk)
    if request.method == "POST":
        form = DceUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                added = services.dce_add_files(
                    consultation=consultation,
                    added_by=request.user,
                    uploads=[(f.name, f) for f in request.FILES.getlist("files")],
                    folder=form.cleaned_data["folder"],
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
                status = error_status(exc)
            else:
                messages.success(
                    request,
                    f"{len(added)} document(s) ajouté(s) au DCE : "
                    + ", ".join(f.path for f in added[:10])
                    + (" …" if len(added) > 10 else "."),
                )
                return redirect("marches:buyer_dce", pk=pk)
        else:
            status = 400
    return _page(
        request, consultation, "buyer_dce", "dce.html", _dce_context(consultation, form), status=status
    )


@buyer_staff_required
@require_POST
def buyer_dce_remove(request: HttpRequest, pk: int, file_pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    dce_file = get_in_scope_or_404(
        request,
        DceFile.objects.filter(version__consultation=consultation).select_related("version"),
        pk=file_pk,
    )
    try:
        services.dce_remove_file(dce_file=dce_file, removed_by=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(
            request, f"« {dce_file.path} » est retiré de la version {dce_file.version.number} du DCE."
        )
    return redirect("marches:buyer_dce", pk=pk)


# --- Publication and amendment -------------------------------------------------------------------


@buyer_staff_required
@require_http_methods(["GET", "POST"])
def buyer_publish(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    if not consultation.is_draft:
        messages.info(request, "Cette consultation est déjà publiée.")
        return redirect("marches:buyer_detail", pk=pk)
    status = 200
    service_error = ""
    if request.method == "POST":
        try:
            services.consultation_publish(consultation=consultation, published_by=request.user)
        except ApplicationError as exc:
            service_error = exc.message
            status = error_status(exc)
        else:
            messages.success(
                request,
                "La consultation est publiée : elle est visible de tous et les entreprises peuvent "
                "télécharger le DCE et déposer leurs plis jusqu'à la date limite.",
            )
            return redirect("marches:buyer_detail", pk=pk)
    report = checks.publication_report(consultation)
    working = consultation.dce_versions.filter(published_at__isnull=True).first()
    scan_check = next((c for c in report.checks if c.code == "dce_scan"), None)
    context = {
        "report": report,
        "unscanned_form": UnscannedAcceptForm() if scan_check and scan_check.level == "error" else None,
        "service_error": service_error,
        "total_value": checks.total_value(consultation),
        "lot_count": consultation.lots.count(),
        "seats": list(consultation.commission.select_related("member")),
        "file_count": working.files.count() if working else 0,
    }
    return _page(request, consultation, "buyer_publish", "publish.html", context, status=status)


@buyer_staff_required
@require_POST
def buyer_dce_accept_unscanned(request: HttpRequest, pk: int) -> HttpResponse:
    """The buyer accepts to publish the DCE files no antivirus analysed, with a reason."""
    consultation = _consultation(request, pk)
    form = UnscannedAcceptForm(request.POST)
    if not form.is_valid():
        for error in form.errors.get("reason", []):
            messages.error(request, error)
        return redirect("marches:buyer_publish", pk=pk)
    try:
        acceptance = services.dce_unscanned_accept(
            consultation=consultation, accepted_by=request.user, reason=form.cleaned_data["reason"]
        )
    except ApplicationError as exc:
        messages.error(request, exc.message)
        if exc.status == 403:
            return render(request, "marches/buyer/forbidden.html", status=403)
    else:
        messages.success(
            request,
            f"Publication sans analyse antivirus acceptée pour {len(acceptance.files)} document(s) ; "
            "la décision est inscrite au journal.",
        )
    return redirect("marches:buyer_publish", pk=pk)


def dce_diff(working: DceVersion | None, previous: DceVersion | None) -> dict[str, list[str]]:
    """What a new version of the DCE changes against the last published one."""
    new = dict(working.files.values_list("path", "sha256")) if working else {}
    old = dict(previous.files.values_list("path", "sha256")) if previous else {}
    return {
        "added": sorted(set(new) - set(old)),
        "removed": sorted(set(old) - set(new)),
        "changed": sorted(p for p in set(new) & set(old) if new[p] != old[p]),
    }


@buyer_staff_required
@require_http_methods(["GET", "POST"])
def buyer_amend(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    if consultation.current_state != State.PUBLISHED:
        if consultation.is_draft:
            messages.info(request, "Ce brouillon se modifie directement, sans avis rectificatif.")
            return redirect("marches:buyer_edit", pk=pk)
        messages.info(request, "Seule une consultation en cours (avant la date limite) peut être rectifiée.")
        return redirect("marches:buyer_detail", pk=pk)
    form = AmendForm(request.POST or None, consultation=consultation)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                services.consultation_amend(
                    consultation=consultation,
                    amended_by=request.user,
                    note=form.cleaned_data["note"],
                    **form.changed_fields(),
                )
            except ApplicationError as exc:
                add_service_errors(form, exc)
                status = error_status(exc)
            else:
                messages.success(
                    request,
                    "L'avis rectificatif est publié avec la nouvelle version du DCE. Les personnes "
                    "inscrites au registre des retraits en sont informées par e-mail.",
                )
                return redirect("marches:buyer_detail", pk=pk)
        else:
            status = 400
    working = consultation.dce_versions.filter(published_at__isnull=True).first()
    previous = consultation.dce_versions.filter(published_at__isnull=False).order_by("-number").first()
    context = {
        "form": form,
        "working": working,
        "previous": previous,
        "diff": dce_diff(working, previous) if working else None,
        "recipients": consultation.downloads.values("email").distinct().count(),
    }
    return _page(request, consultation, "buyer_amend", "amend.html", context, status=status)


# --- Download register --------------------------------------------------------------------------


def _register(consultation: Consultation):
    return consultation.downloads.select_related("version", "file").order_by("-created_at", "-pk")


@buyer_staff_required
@require_GET
def buyer_register(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _consultation(request, pk)
    page = Paginator(_register(consultation), REGISTER_PAGE_SIZE).get_page(request.GET.get("page"))
    return _page(request, consultation, "buyer_register", "register.html", {"page": page})


class _Echo:
    def write(self, value: str) -> str:
        return value


Echo = _Echo


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> str:
    """A spreadsheet cell that never runs as a formula: names and companies are typed by
    visitors (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


cell = _cell


REGISTER_HEADERS = [
    "Date (heure de Paris)",
    "Nom",
    "Entreprise",
    "Adresse e-mail",
    "Version du DCE",
    "Fichier",
]


def _register_rows(rows) -> Iterator[str]:
    writer = csv.writer(_Echo(), delimiter=";", lineterminator="\r\n")
    # The byte order mark makes Excel read the file as UTF-8.
    yield "\ufeff" + writer.writerow(REGISTER_HEADERS)
    for download in rows.iterator(chunk_size=500):
        yield writer.writerow(
            [
                _cell(timezone.localtime(download.created_at, PARIS).strftime("%d/%m/%Y %H:%M:%S")),
                _cell(download.name),
                _cell(download.company_name),
                _cell(download.email),
                download.version.number,
                _cell(download.file.path if download.file else "DCE complet"),
            ]
        )


@buyer_staff_required
@require_GET
def buyer_register_csv(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    consultation = _consultation(request, pk)
    rows = services.download_register_export(consultation=consultation, exported_by=request.user)
    response = StreamingHttpResponse(_register_rows(rows), content_type="text/csv; charset=utf-8")
    name = slugify(consultation.reference) or str(consultation.pk)
    response["Content-Disposition"] = f'attachment; filename="registre-retraits-{name}.csv"'
    return response


# --- CPV picker ---------------------------------------------------------------------------------


CODE_QUERY = re.compile(r"^\s*(\d{1,8})(?:\s*-\s*\d?)?\s*$")


@buyer_staff_required
@require_GET
def cpv_search(request: HttpRequest) -> JsonResponse:
    """JSON for the CPV picker: a code prefix (« 4526 ») or words of the French label
    (« toiture couverture »); at most 20 codes."""
    query = request.GET.get("q", "").strip()[:100]
    codes = CpvCode.objects.none()
    match = CODE_QUERY.match(query)
    if match:
        codes = CpvCode.objects.filter(code__startswith=match.group(1))
    else:
        words = [w for w in re.split(r"[\s,;]+", query) if len(w) >= 2][:6]
        if words:
            codes = CpvCode.objects.all()
            for word in words:
                codes = codes.filter(label_fr__icontains=word)
    results = [{"code": c.full_code, "label": c.label_fr} for c in codes.order_by("code")[:CPV_RESULTS]]
    return JsonResponse({"query": query, "results": results})
