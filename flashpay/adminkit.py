"""Admin building blocks shared by every app's operator console."""


class ReadOnlyAdminMixin:
    """For rows that change only through services (ledger entries, audit trails, deliveries):
    operators may look, never add, edit or delete by hand. Actions still call services."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
