"""Store every e-mail address in its normal form (comptes/emails.py).

Accounts were looked up with `email__iexact` and stored lowercased: a spelling in `ſ`, in
the Kelvin sign or in fullwidth letters was stored as typed. This migration rewrites each
address of an account and of an invitation into its normal form.

Two accounts whose addresses have the same normal form cannot both keep it, and merging
accounts (memberships, deposits, journal) is not a migration's decision: the migration then
refuses, changes nothing, and lists the accounts, so that an operator settles each case
(for instance by changing the address of the account that is not used) before migrating
again. Invitations are not unique per address and are rewritten whatever.

An account whose normal form has a non-ASCII local part (a dotless `ı` was accepted before)
is rewritten too and listed: it still logs in, but the address is refused for new accounts.
"""

from django.db import migrations

from comptes.emails import normalise_email


def plan(addresses: dict[int, str]) -> tuple[dict[int, str], list[list[tuple[int, str]]]]:
    """The rewrites {pk: normal form} of the addresses that change, and the groups of
    accounts that would share a normal form."""
    by_normal: dict[str, list[tuple[int, str]]] = {}
    for pk, email in sorted(addresses.items()):
        by_normal.setdefault(normalise_email(email), []).append((pk, email))
    collisions = [group for group in by_normal.values() if len(group) > 1]
    changes = {pk: normal for normal, group in by_normal.items() for pk, email in group if email != normal}
    return changes, collisions


def collision_report(collisions: list[list[tuple[int, str]]]) -> str:
    lines = [
        "Des comptes ont des adresses e-mail qui ne diffèrent que par la casse ou par des variantes "
        "Unicode (ſ, signe kelvin, pleine chasse…) : une fois normalisées, elles seraient identiques. "
        "Rien n'a été modifié. Changez l'adresse de l'un des comptes de chaque groupe, puis relancez "
        "« manage.py migrate » :"
    ]
    for group in collisions:
        lines.append("  - " + ", ".join(f"compte n° {pk} <{email}>" for pk, email in group))
    return "\n".join(lines)


def forward(apps, schema_editor):
    User = apps.get_model("comptes", "User")
    Invitation = apps.get_model("comptes", "Invitation")
    changes, collisions = plan(dict(User.objects.values_list("pk", "email")))
    if collisions:
        raise RuntimeError(collision_report(collisions))
    for pk, email in changes.items():
        User.objects.filter(pk=pk).update(email=email)
    odd = [(pk, e) for pk, e in User.objects.values_list("pk", "email") if not e.rpartition("@")[0].isascii()]
    if odd:
        print(  # migrate's output is what the operator reads
            "\n  Comptes dont l'adresse a des caractères non ASCII avant « @ » (refusés désormais pour "
            "un nouveau compte) : " + ", ".join(f"n° {pk} <{email}>" for pk, email in odd)
        )
    for pk, email in Invitation.objects.values_list("pk", "email"):
        if normalise_email(email) != email:
            Invitation.objects.filter(pk=pk).update(email=normalise_email(email))


class Migration(migrations.Migration):
    dependencies = [
        ("comptes", "0002_ceremony_key"),
    ]

    operations = [
        # Backwards: nothing to undo, a normal form is a valid spelling of the same address.
        migrations.RunPython(forward, migrations.RunPython.noop),
    ]
