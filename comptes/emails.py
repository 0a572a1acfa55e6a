"""E-mail addresses in one normal form: the form stored, looked up, counted and mailed to.

A person logs in with their address, so the address is their identifier. Every spelling
that designates the same account must give the same key everywhere: in the lookup of the
account, in the counter of failed logins (django-axes, `lockout_username`), in the unique
index of the table. Before this module the lookup matched with `email__iexact` (SQL
`UPPER()`, which on PostgreSQL folds `ſ` to `S` and the Kelvin sign to `K`) while the
counter was keyed on the typed string: each variant had five fresh attempts at the same
account.

The normal form, `normalise_email`:

1. NFKC, then Unicode case folding, then NFKC again, on the whole address. NFKC folds the
   compatibility variants that render like the letter they stand for — `ſ` (U+017F) is `s`,
   the Kelvin sign (U+212A) is `K`, fullwidth `ｃ` is `c`, `＠` is `@`, `ﬁ` is `fi` — and
   case folding then removes case (`ß` → `ss`, `K` → `k`). It is the fold Django itself
   applies when it compares addresses for a password reset (`_unicode_ci_compare`), and
   what IDNA's nameprep does to domain names. The first NFKC is needed: case folding alone
   then NFKC is not idempotent (U+037A, the Greek ypogegrammeni, folds only at the second
   pass); NFKC ∘ casefold ∘ NFKC is, for every code point (tested). Folding the local part
   too departs from RFC 5321's letter (a local part may be case-sensitive) but not from
   practice: no mailbox provider distinguishes case, and the platform lowercased addresses
   already.
2. The domain through IDNA (Python's codec, IDNA 2003: the one Django uses to validate an
   address and to send mail to it), to ASCII and back, so that `xn--…` and its Unicode
   spelling are one domain. A domain the codec refuses is left as it is, and the address
   validator then refuses it.
3. The local part must be ASCII after the fold (`validate_ascii_local_part`). Django's
   validator means to accept only ASCII there, but its pattern is case-insensitive, and in
   Python that lets four non-ASCII letters through: `ſ` and the Kelvin sign, which the fold
   has removed, and the dotless `ı` and `İ`, which it keeps and which PostgreSQL's `UPPER()`
   maps to `I`. Refusing them closes that family of look-alikes; Django could not send mail
   to a non-ASCII local part anyway.

Mail goes to the stored normal form, never to the spelling typed: confirming an address by
the link sent to it proves control of the normal form. The database holds the normal form
under a unique constraint, and a check constraint (`DatabaseNormalForm`) refuses a value in
ASCII upper case and, on PostgreSQL, a value that NFKC would change. Changing the normal
form means a data migration of every stored address (see `0003_email_normal_form`).
"""

from __future__ import annotations

import contextlib
import unicodedata

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import Func


def fold(value: str) -> str:
    """NFKC, case folding, NFKC: idempotent for every code point."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", value).casefold())


def normalise_email(value: str) -> str:
    """The normal form of an address (see the module's docstring). Total: any string has
    one, valid address or not, so that a lookup or a counter never fails on bad input."""
    address = fold(value.strip())
    local, at, domain = address.rpartition("@")
    if not at or not domain:
        return address
    # A domain IDNA does not accept is left as it is: the address validator refuses it.
    with contextlib.suppress(UnicodeError):
        domain = domain.encode("idna").decode("idna")
    return f"{local}@{domain}"


def validate_ascii_local_part(value: str) -> None:
    local = value.rpartition("@")[0]
    if not local.isascii():
        raise ValidationError(
            "Saisissez une adresse e-mail dont la partie avant « @ » ne contient ni lettre "
            "accentuée ni caractère non latin.",
            code="invalid",
        )


def lockout_username(request, credentials: dict | None) -> str | None:
    """AXES_USERNAME_CALLABLE: django-axes counts failures under the normal form, the key
    the account is looked up with, so every spelling of an address shares one counter."""
    field = settings.AXES_USERNAME_FORM_FIELD
    source = credentials or getattr(request, "data", request.POST)
    username = source.get(field)
    return normalise_email(username) if isinstance(username, str) else username


class DatabaseNormalForm(Func):
    """What the database can compute of the normal form, for a check constraint: ASCII
    lower case everywhere, and NFKC on PostgreSQL. Neither database folds case the way
    Python does (PostgreSQL's `lower()` follows the collation; SQLite's is ASCII only), so
    the ASCII lower case is taken under the "C" collation, whatever the database's."""

    function = "LOWER"
    arity = 1

    def as_postgresql(self, compiler, connection, **extra_context):
        return self.as_sql(
            compiler,
            connection,
            template='LOWER((NORMALIZE((%(expressions)s)::text, NFKC)) COLLATE "C")',
            **extra_context,
        )
