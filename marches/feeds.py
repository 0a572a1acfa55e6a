"""Atom feed of the latest published consultations, for watchers and aggregators."""

from __future__ import annotations

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.urls import reverse_lazy
from django.utils.feedgenerator import Atom1Feed

from .models import Consultation
from .templatetags.marches_format import paris_datetime

FEED_SIZE = 50


class LatestConsultationsFeed(Feed):
    feed_type = Atom1Feed
    link = reverse_lazy("marches:search")
    language = "fr"

    def title(self) -> str:
        return f"{settings.PLATFORM_NAME} — dernières consultations publiées"

    def subtitle(self) -> str:
        return "Les consultations publiées le plus récemment, avec leur date limite de remise des plis."

    def items(self) -> list[Consultation]:
        # Ids first, then the rows: sorting narrow rows stays cheap at 100,000 consultations.
        latest = Consultation.objects.public().order_by("-published_at", "-pk")
        ids = list(latest.values_list("pk", flat=True)[:FEED_SIZE])
        rows = Consultation.objects.select_related("buyer").defer("search_vector").in_bulk(ids)
        return [rows[pk] for pk in ids if pk in rows]

    def item_title(self, item: Consultation) -> str:
        return f"{item.title} ({item.reference})"

    def item_description(self, item: Consultation) -> str:
        return (
            f"{item.buyer.name} — {item.get_nature_display()}, {item.get_procedure_display()}. "
            f"Date limite de remise des plis : {paris_datetime(item.deadline)}."
        )

    def item_author_name(self, item: Consultation) -> str:
        return item.buyer.name

    def item_pubdate(self, item: Consultation):
        return item.published_at

    def item_updateddate(self, item: Consultation):
        return item.published_at

    def item_categories(self, item: Consultation):
        return [item.get_nature_display()]
