from django.contrib import admin

from .models import JournalEntry


@admin.register(JournalEntry)
class JournalEntryAdmin(admin.ModelAdmin):
    """Read-only: the journal is append-only, even for platform administrators."""

    list_display = (
        "seq",
        "created_at",
        "action",
        "actor_label",
        "organisation_label",
        "target_type",
        "target_id",
    )
    list_filter = ("action",)
    search_fields = ("action", "actor_label", "organisation_label", "target_id")
    ordering = ("-seq",)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
