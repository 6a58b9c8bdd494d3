"""Admin of the lightning app: read-only views of node invoices and settle cursors for operators."""
from django.contrib import admin

from flashpay.adminkit import ReadOnlyAdminMixin
from lightning.models import LightningInvoice, LightningSettleCursor


class ReadOnlyAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Rows come from the node; operators look, services write."""


@admin.register(LightningInvoice)
class LightningInvoiceAdmin(ReadOnlyAdmin):
    list_display = ("payment_hash", "status", "amount_msat", "amount_received_msat", "settle_index", "created_at", "settled_at")
    list_filter = ("status", "node_pubkey")
    search_fields = ("payment_hash", "bolt11", "memo")
    date_hierarchy = "created_at"
    exclude = ("preimage",)


@admin.register(LightningSettleCursor)
class LightningSettleCursorAdmin(ReadOnlyAdmin):
    list_display = ("node_pubkey", "settle_index", "updated_at")
