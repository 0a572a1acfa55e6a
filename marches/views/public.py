"""The public face of consultations: search, detail, DCE downloads. Anyone may read what is
published, without an account; a draft is a 404 (and a journal entry), like an id that does
not exist. Downloading is free and anonymous: only a logged-in user, or a visitor who chose to
leave a name and an e-mail address, is written in the download register."""

from __future__ import annotations

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Sum
from django.http import FileResponse, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.views.decorators.http import require_http_methods, require_safe

from comptes.access import get_in_scope_or_404

from .. import dce_zip, services, storage
from ..forms_public import DownloadIdentityForm, SearchForm
from ..models import Consultation, DceFile, DceVersion

PER_PAGE = 20
SESSION_IDENTITY = "dce_identity"


@require_safe
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm.from_query(request.GET)
    page = None
    if form.is_valid():
        # Deferred join: sort and slice narrow rows (ids only), then fetch the page's 20 rows
        # with their buyer and CPV code. Sorting whole rows with their joins costs tenfold at
        # 100,000 consultations.
        paginator = Paginator(form.results().values_list("pk", flat=True), PER_PAGE)
        page = paginator.get_page(request.GET.get("page"))
        page.object_list = _in_order(list(page.object_list))
        page.pages_list = list(paginator.get_elided_page_range(page.number, on_each_side=2, on_ends=1))
    context = {
        "form": form,
        "page_obj": page,
        "cpv": form.cleaned_data.get("cpv") if form.is_valid() else None,
        "now": timezone.now(),
    }
    # A refused filter is a 400, the page shown with the error beside the field, as the API.
    return render(request, "marches/public/search.html", context, status=200 if form.is_valid() else 400)


def _in_order(ids: list[int]) -> list[Consultation]:
    rows = Consultation.objects.select_related("buyer", "cpv_main").defer("search_vector").in_bulk(ids)
    return [rows[pk] for pk in ids if pk in rows]


def _public_consultation(request: HttpRequest, pk: int) -> Consultation:
    queryset = Consultation.objects.public().select_related("buyer", "cpv_main")
    return get_in_scope_or_404(request, queryset, pk=pk)


def _identity(request: HttpRequest) -> dict | None:
    """Who the register would record for this visitor, if anyone."""
    user = request.user
    if user.is_authenticated:
        return {"name": user.get_full_name(), "email": user.email, "logged_in": True}
    return request.session.get(SESSION_IDENTITY)


# Actions other apps offer on a consultation's public page, as (URL name, label, label after
# the deadline or None): the label while it is open for deposits, the late one once it is
# closed (a late pli is still taken, kept and never opened): offres adds « Déposer un pli »
# (offres.apps). marches does not import offres.
PUBLIC_ACTIONS: list[tuple[str, str, str | None]] = []


def _actions(consultation: Consultation) -> list[dict]:
    state = consultation.current_state
    if state == Consultation.State.PUBLISHED:
        chosen = [(name, label, False) for name, label, _ in PUBLIC_ACTIONS]
    elif state == Consultation.State.CLOSED:
        chosen = [(name, late, True) for name, _, late in PUBLIC_ACTIONS if late]
    else:
        chosen = []
    return [
        {"label": label, "url": reverse(name, args=[consultation.pk]), "secondary": secondary}
        for name, label, secondary in chosen
    ]


@require_safe
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    consultation = _public_consultation(request, pk)
    versions = list(
        consultation.dce_versions.filter(published_at__isnull=False)
        .annotate(file_count=Count("files"), total_size=Sum("files__size"))
        .order_by("-number")
    )
    current = versions[0] if versions else None
    context = {
        "consultation": consultation,
        "now": timezone.now(),
        "lots": consultation.lots.select_related("cpv"),
        "cpv_additional": consultation.cpv_additional.all(),
        "current_version": current,
        "earlier_versions": versions[1:],
        "files": current.files.order_by("path") if current else [],
        "identity": _identity(request),
        "identity_form": DownloadIdentityForm(),
        # Created by offres at publication, read through the reverse relation: marches does not
        # import offres (api → offres → marches).
        "opening_keys": consultation.opening_keys.prefetch_related("shares").order_by("envelope"),
        "actions": _actions(consultation),
    }
    return render(request, "marches/public/detail.html", context)


@require_http_methods(["GET", "POST"])
def download_identify(request: HttpRequest, pk: int) -> HttpResponse:
    """Optional: leave a name and an e-mail address, kept in the session, so that the next
    downloads are recorded and the visitor hears of changes to the DCE."""
    consultation = _public_consultation(request, pk)
    back = consultation.get_absolute_url() + "#dce"
    if request.method == "POST" and "forget" in request.POST:
        request.session.pop(SESSION_IDENTITY, None)
        messages.info(request, "Vos prochains téléchargements seront anonymes.")
        return redirect(back)
    if request.method == "POST":
        form = DownloadIdentityForm(request.POST)
        if form.is_valid():
            request.session[SESSION_IDENTITY] = form.cleaned_data
            messages.success(
                request,
                "C'est noté : vos prochains téléchargements du DCE seront inscrits au registre des "
                f"retraits, et vous serez prévenu(e) à {form.cleaned_data['email']} de ses modifications.",
            )
            return redirect(back)
    else:
        form = DownloadIdentityForm(initial=request.session.get(SESSION_IDENTITY))
    context = {"consultation": consultation, "form": form, "identity": _identity(request)}
    return render(request, "marches/public/identify.html", context)


def _record_download(request: HttpRequest, *, version: DceVersion, dce_file: DceFile | None = None) -> None:
    if request.method != "GET":  # a HEAD request downloads nothing
        return
    if request.user.is_authenticated:
        services.dce_download_record(
            consultation=version.consultation, version=version, dce_file=dce_file, user=request.user
        )
    elif identity := request.session.get(SESSION_IDENTITY):
        services.dce_download_record(
            consultation=version.consultation,
            version=version,
            dce_file=dce_file,
            name=identity.get("name", ""),
            company_name=identity.get("company_name", ""),
            email=identity.get("email", ""),
        )


def _published_versions():
    return DceVersion.objects.filter(
        published_at__isnull=False, consultation__in=Consultation.objects.public()
    ).select_related("consultation")


@require_safe
def file_download(request: HttpRequest, pk: int, file_pk: int) -> HttpResponse:
    queryset = DceFile.objects.filter(version__in=_published_versions()).select_related(
        "version__consultation"
    )
    dce_file = get_in_scope_or_404(request, queryset, pk=file_pk, version__consultation_id=pk)
    _record_download(request, version=dce_file.version, dce_file=dce_file)
    # The content type is guessed from the name; as an attachment, never rendered here.
    response = FileResponse(storage.open_blob(dce_file.blob), as_attachment=True, filename=dce_file.name)
    response["X-Content-Type-Options"] = "nosniff"
    return response


@require_safe
def zip_download(request: HttpRequest, pk: int, version: int) -> HttpResponse:
    dce_version = get_in_scope_or_404(request, _published_versions(), consultation_id=pk, number=version)
    folder = dce_zip.folder_name(dce_version.consultation.reference)
    archive = dce_zip.dce_zip(dce_version.files.order_by("path"), top_folder=folder)
    _record_download(request, version=dce_version)
    response = StreamingHttpResponse(archive, content_type="application/zip")
    response["Content-Length"] = str(len(archive))
    response["Content-Disposition"] = content_disposition_header(
        as_attachment=True, filename=f"{folder}_DCE_v{dce_version.number}.zip"
    )
    response["X-Content-Type-Options"] = "nosniff"
    return response
