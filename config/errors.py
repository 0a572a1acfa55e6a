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
