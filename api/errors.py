"""One error shape for every failure of the API:

{"error": {"code": "not_found", "message": "…en français…", "details": {…}}}
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, serializers, status
from rest_framework.views import exception_handler as drf_exception_handler

from config.errors import ApplicationError

from .parsers import TooDeep

MESSAGES = {
    TooDeep: ("too_deep", TooDeep.default_detail),
    exceptions.NotAuthenticated: (
        "not_authenticated",
        "Authentification requise : connectez-vous ou fournissez un jeton d'API.",
    ),
    exceptions.PermissionDenied: ("forbidden", "Vous n'avez pas le droit de faire cela."),
    exceptions.NotFound: ("not_found", "Ressource introuvable."),
    exceptions.MethodNotAllowed: ("method_not_allowed", "Méthode HTTP non autorisée sur cette ressource."),
    exceptions.ParseError: ("malformed", "Corps de requête illisible : JSON valide attendu."),
    exceptions.UnsupportedMediaType: (
        "unsupported_media_type",
        "Type de contenu non pris en charge : application/json attendu.",
    ),
    exceptions.Throttled: ("throttled", "Trop de requêtes : réessayez plus tard."),
    exceptions.ValidationError: ("validation", "Données invalides."),
    exceptions.NotAcceptable: ("not_acceptable", "Format de réponse non disponible."),
}


def error_body(code: str, message: str, details=None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        from rest_framework.response import Response

        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real server error: Django's 500 handling and logging
    code, message = "error", "Erreur."
    for klass in type(exc).__mro__:
        if klass in MESSAGES:
            code, message = MESSAGES[klass]
            break
    if isinstance(exc, exceptions.AuthenticationFailed):
        code, message = "authentication_failed", str(exc.detail)
    details = exc.detail if isinstance(exc, exceptions.ValidationError) else {}
    response.data = error_body(code, message, details)
    return response


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    details = serializers.DictField()


class ErrorSerializer(serializers.Serializer):
    error = ErrorDetailSerializer()


def not_found_json(request, exception=None):
    """API 404 for unknown URLs under /api/, in the same shape."""
    return JsonResponse(error_body("not_found", "Ressource introuvable."), status=status.HTTP_404_NOT_FOUND)
