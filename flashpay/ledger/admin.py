"""Read-only admin for the ledger: operators look, only services write."""
from django.contrib import admin

from flashpay.adminkit import ReadOnlyAdminMixin
from flashpay.ledger.models import Account, Entry, Transaction


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """No add, change or delete: money moves only through the ledger services."""


class EntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Entry
    fields = ("account", "amount_msat")
    readonly_fields = fields
    extra = 0
    can_delete = False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "kind",
        "reference",
        "name",
        "posted_msat",
        "pending_debit_msat",
        "pending_credit_msat",
        "allow_negative",
    )
    list_filter = ("kind", "allow_negative")
    search_fields = ("reference", "name")
    ordering = ("-id",)


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    list_display = ("id", "idempotency_key", "status", "is_hold", "description", "created_at")
    list_filter = ("status", "is_hold")
    search_fields = ("idempotency_key", "description")
    ordering = ("-id",)
    inlines = [EntryInline]
    raw_id_fields = ("reverses",)
