"""`{% company_deposits consultation %}`: on a consultation's public page, tells a logged-in
company user that their company has already deposited, when (Paris time, to the second), and
links to « Mes plis ». Nothing for anyone else.

The public page belongs to marches, which never imports offres (import-linter): the page's
template loads this library instead, so the knowledge of deposits stays in offres."""

from django import template

from offres import standing

register = template.Library()


@register.inclusion_tag("offres/_consultation_deposits.html", takes_context=True)
def company_deposits(context, consultation):
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"companies": []}
    companies = standing.deposits_of(consultation, user)
    return {"companies": companies, "any_received": any(entry.received for entry in companies)}
