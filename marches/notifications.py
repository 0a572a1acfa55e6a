"""E-mails to the people recorded in a consultation's download register."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mass_mail
from django.template.loader import render_to_string

from .models import DceDownload, DceVersion


def dce_change_notify(*, version_id: int) -> int:
    version = DceVersion.objects.select_related("consultation__buyer").get(pk=version_id)
    consultation = version.consultation
    recipients = sorted(
        set(
            DceDownload.objects.filter(consultation=consultation)
            .exclude(version=version)
            .values_list("email", flat=True)
        )
    )
    context = {
        "consultation": consultation,
        "version": version,
        "link": settings.SITE_URL + consultation.get_absolute_url(),
    }
    subject = f"[{consultation.reference}] Nouvelle version du DCE (version {version.number})"
    body = render_to_string("marches/emails/dce_changed.txt", context)
    messages = [(subject, body, settings.DEFAULT_FROM_EMAIL, [email]) for email in recipients]
    return send_mass_mail(messages, fail_silently=False) if messages else 0
