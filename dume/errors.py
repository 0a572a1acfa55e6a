"""Errors of the DUME library: French messages that name the line and, when known, the element."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Issue:
    message: str
    line: int | None = None
    element: str | None = None
    rule: str | None = None  # Schematron rule id, when it comes from one
    location: str | None = None  # XPath of the element the rule fired on
    severity: str = "error"  # "error" or "warning"

    def __str__(self) -> str:
        where = []
        if self.line:
            where.append(f"ligne {self.line}")
        if self.element:
            where.append(f"élément « {self.element} »")
        prefix = f"{', '.join(where)} : " if where else ""
        rule = f"[{self.rule}] " if self.rule else ""
        location = f" ({self.location})" if self.location else ""
        return f"{prefix}{rule}{self.message}{location}"


class DumeError(Exception):
    """Refused input: every issue found, in French."""

    def __init__(
        self, issues: list[Issue] | Issue | str, *, line: int | None = None, element: str | None = None
    ):
        if isinstance(issues, str):
            issues = [Issue(issues, line=line, element=element)]
        elif isinstance(issues, Issue):
            issues = [issues]
        self.issues: list[Issue] = list(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


class NotEspdError(DumeError):
    """Well-formed XML that is not an ESPD Request or Response."""


class UnknownVersionError(DumeError):
    """An ESPD document of a version no reader handles."""


class UnsafeXmlError(DumeError):
    """DTD, entities, oversized or too deep input: refused before anything is expanded."""
