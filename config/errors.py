"""The one error type that services raise for a refused operation.

Views turn it into a French message on the page; the API's exception handler turns it into
the stable JSON error shape. Every app may raise it, so it lives with the project config.
"""

from typing import Any


class ApplicationError(Exception):
    def __init__(
        self,
        message: str,
        *,
        code: str = "invalid",
        status: int = 400,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.status = status
        self.details = details or {}

    @classmethod
    def from_validation_error(cls, exc) -> "ApplicationError":
        """A model's `ValidationError` (from `full_clean()`) as the one error services raise:
        every French message in `message`, per field in `details`."""
        if hasattr(exc, "error_dict"):
            details = {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
        else:
            details = {"__all__": list(exc.messages)}
        message = " ".join(m for messages in details.values() for m in messages)
        return cls(message, code="validation", details=details)


def full_clean_and_save(obj, *, exclude=()) -> None:
    """Validate a model instance, then save it; a refusal becomes an ApplicationError. The
    services of every app write through it (STYLE.md §1: `full_clean()` before `save()`)."""
    from django.core.exceptions import ValidationError

    try:
        obj.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        raise ApplicationError.from_validation_error(exc) from None
    obj.save()
