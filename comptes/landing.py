"""Where a user lands after logging in, when no `next=` says otherwise: the page of their
work, not « Mon compte » (API tokens, second factor), which is a settings page.

Named by URL (reverse), never imported: the pages belong to apps above comptes in the layer
order (marches, offres)."""

from django.urls import reverse

from .models import Membership, Organisation, User

BUYER_STAFF_LANDING = "marches:buyer_list"  # « Mes consultations »
COMPANY_LANDING = "offres:deposit_list"  # « Mes plis »: the company's deposits and consultations
# Commission members (the ceremony passphrase is there), and after a recovery code.
DEFAULT_LANDING = "comptes:account"


def landing_url(user: User, *, second_factor: str = "") -> str:
    # A login with a recovery code usually means a lost phone: the account page is where the
    # second factor and the remaining codes are set up again.
    if second_factor == "recovery_code":
        return reverse(DEFAULT_LANDING)
    memberships = list(Membership.objects.filter(user=user).select_related("organisation"))
    if any(m.role in Membership.BUYER_STAFF_ROLES for m in memberships):
        return reverse(BUYER_STAFF_LANDING)
    if any(m.organisation.kind == Organisation.Kind.COMPANY for m in memberships):
        return reverse(COMPANY_LANDING)
    return reverse(DEFAULT_LANDING)
