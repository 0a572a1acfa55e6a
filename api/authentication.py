from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from comptes.services import SESSION_2FA_VERIFIED, api_token_authenticate


class PersonalTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>` with a personal token created from the account page."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        parts = header.split()
        if parts[0] != self.keyword:
            return None
        if len(parts) != 2:
            raise exceptions.AuthenticationFailed(
                "En-tête Authorization mal formé : « Bearer <jeton> » attendu."
            )
        token = api_token_authenticate(parts[1])
        if token is None:
            raise exceptions.AuthenticationFailed("Jeton d'API invalide ou révoqué.")
        return token.user, token

    def authenticate_header(self, request):
        return self.keyword


class TwoFactorSessionAuthentication(authentication.SessionAuthentication):
    """The browser session, provided it has passed the second factor whenever the user's
    roles require one (the same rule as the web pages)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        session = request._request.session
        if user.requires_two_factor() and not session.get(SESSION_2FA_VERIFIED):
            return None
        return result


class PersonalTokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.PersonalTokenAuthentication"
    name = "jetonPersonnel"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "Jeton personnel créé depuis « Mon compte ».",
        }


class TwoFactorSessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.authentication.TwoFactorSessionAuthentication"
    name = "session"

    def get_security_definition(self, auto_schema):
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
