"""`{% chiffrement_script %}`: the encryption bundle's script tag with its Subresource
Integrity, so that a browser runs it only if its bytes are those whose digest is published.
`{% integrity_script "marches/deadline.js" %}`: any other script of a page where bids are
encrypted, with its integrity too: a script altered on its way (a cache, a CDN, the storage)
could read the files chosen before they are encrypted."""

from django import template
from django.templatetags.static import static
from django.utils.html import format_html

from offres.bundle import BUNDLE, bundle_digest

register = template.Library()


@register.simple_tag
def chiffrement_script():
    return format_html(
        '<script src="{}" integrity="{}" defer></script>', static(BUNDLE), bundle_digest().integrity
    )


@register.simple_tag
def integrity_script(name: str):
    return format_html(
        '<script src="{}" integrity="{}" defer></script>', static(name), bundle_digest(name).integrity
    )
