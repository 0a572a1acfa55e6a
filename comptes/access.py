"""Scoped fetch (STYLE.md §3) that also records the refusal: asking for an object outside
one's scope answers 404, like an object that does not exist, and leaves a security event in
the journal."""

from django.db import models, transaction
from django.http import Http404, HttpRequest

from preuves import journal

from .network import client_ip


def get_in_scope_or_404(request: HttpRequest, queryset: models.QuerySet, **lookup) -> models.Model:
    try:
        return queryset.get(**lookup)
    except queryset.model.DoesNotExist:
        if queryset.model._default_manager.filter(**lookup).exists():
            with transaction.atomic():
                journal.record(
                    "access.denied",
                    actor=request.user,
                    payload={
                        "model": queryset.model._meta.label_lower,
                        "lookup": {k: str(v) for k, v in lookup.items()},
                        "path": request.path,
                        "method": request.method,
                        "ip": client_ip(request),
                    },
                )
        raise Http404 from None
