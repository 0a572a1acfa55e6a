from django.contrib import admin

from .models import Checkpoint, JournalEntry, LogLeaf, TimestampToken


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records nobody edits from the admin: evidence is append-only, even for platform
    administrators, and invitations or tokens change only through their services."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
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


@admin.register(TimestampToken)
class TimestampTokenAdmin(ReadOnlyAdmin):
    list_display = ("id", "gen_time", "purpose", "subject_type", "subject_id", "serial_number", "tsa_name")
    list_filter = ("purpose",)
    search_fields = ("serial_number", "hashed_message", "subject_id")
    exclude = ("response",)
    ordering = ("-id",)


@admin.register(LogLeaf)
class LogLeafAdmin(ReadOnlyAdmin):
    list_display = ("index", "kind", "created_at")
    list_filter = ("kind",)
    exclude = ("data", "leaf_hash")
    ordering = ("-index",)


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("size", "created_at", "origin")
    exclude = ("root_hash",)
    ordering = ("-size",)
