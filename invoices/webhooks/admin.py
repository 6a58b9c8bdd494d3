"""Admin for webhooks: settings (never the secret) and a read-only delivery log with a redeliver action."""
from django.contrib import admin, messages

from flashpay.adminkit import ReadOnlyAdminMixin
from flashpay.errors import ApplicationError
from invoices.webhooks.models import Webhook, WebhookDelivery, WebhookDeliveryAttempt
from invoices.webhooks.services import webhook_delivery_redeliver


@admin.register(Webhook)
class WebhookAdmin(admin.ModelAdmin):
    list_display = ("id", "store", "url", "enabled", "automatic_redelivery", "everything", "created_at")
    list_filter = ("enabled", "automatic_redelivery", "everything")
    search_fields = ("=id", "=store__id", "store__name", "url")
    # Operators see and switch webhooks; creating one (which makes a secret) is the merchant's API.
    fields = ("id", "store", "url", "enabled", "automatic_redelivery", "everything", "specific_events", "created_at")
    readonly_fields = ("id", "store", "created_at")

    def has_add_permission(self, request) -> bool:
        return False


class WebhookDeliveryAttemptInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = WebhookDeliveryAttempt
    extra = 0
    fields = ("number", "started_at", "duration_ms", "status", "http_code", "error_message")
    readonly_fields = fields
    can_delete = False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "webhook", "event_type", "state", "status", "http_code", "attempts", "created_at")
    list_filter = ("state", "status", "event_type")
    search_fields = ("=id", "=webhook__id", "=webhook__store__id")
    list_select_related = ("webhook",)
    readonly_fields = (
        "id", "webhook", "event", "event_type", "original_delivery", "request_body", "state", "status",
        "http_code", "last_error", "attempts", "next_attempt_at", "last_attempt_at", "created_at",
    )
    inlines = [WebhookDeliveryAttemptInline]
    actions = ["redeliver"]

    @admin.action(description="Redeliver the selected deliveries", permissions=["redeliver"])
    def redeliver(self, request, queryset) -> None:
        count = 0
        for delivery in queryset.select_related("original_delivery").order_by("created_at", "pk"):
            try:
                webhook_delivery_redeliver(delivery=delivery)
            except ApplicationError as exc:
                self.message_user(request, f"{delivery.pk}: {exc.message}", messages.ERROR)
                continue
            count += 1
        self.message_user(request, f"{count} redeliveries queued.", messages.SUCCESS)

    def has_redeliver_permission(self, request) -> bool:
        # A redelivery writes a new delivery row: the change permission on deliveries.
        return request.user.has_perm("invoices.change_webhookdelivery")
