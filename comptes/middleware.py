"""Second factor enforcement for the web session.

Anyone who must use a second factor (buyers, commission members, platform staff) and whose
session has not proven one is confined to the enrolment or code pages until they do."""

from django.shortcuts import redirect
from django.urls import reverse

from .services import SESSION_2FA_VERIFIED


class TwoFactorRequiredMiddleware:
    # /csp/rapport: a browser's CSP report is not a page, and one from a user halfway through
    # login must still reach the journal.
    ALLOWED_PREFIXES = ("/static/", "/media/", "/healthz", "/i18n/", "/api/", "/csp/rapport")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        user = request.user
        if (
            user.is_authenticated
            and not request.session.get(SESSION_2FA_VERIFIED)
            and not request.path.startswith(self.ALLOWED_PREFIXES)
            and user.requires_two_factor()
        ):
            allowed = {
                reverse("comptes:logout"),
                reverse("comptes:totp_enrol"),
                reverse("comptes:login_code"),
                reverse("accessibility"),
            }
            if request.path not in allowed:
                target = "comptes:login_code" if user.has_two_factor else "comptes:totp_enrol"
                return redirect(target)
        return self.get_response(request)
