"""Admin for the outbox: events and their deliveries, read-only, with a "redeliver" action."""
from django.contrib import admin, messages

from flashpay.adminkit import ReadOnlyAdminMixin
from flashpay.events.models import Event, EventDelivery
from flashpay.events.services import event_delivery_redeliver


class EventDeliveryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = EventDelivery
    extra = 0
    fields = (
        "handler", "state", "attempts", "last_attempt_at", "next_attempt_at", "delivered_at",
        "last_error",
    )
    readonly_fields = fields
    can_delete = False


def _can_redeliver(request) -> bool:
    # Deliveries cannot be edited by hand, but re-queueing one is a write: the change permission.
    return request.user.has_perm("events.change_eventdelivery")


def _redeliver(modeladmin, request, deliveries) -> None:
    count = 0
    for delivery in deliveries:
        event_delivery_redeliver(delivery=delivery)
        count += 1
    modeladmin.message_user(request, f"{count} deliveries queued again.", messages.SUCCESS)


@admin.register(Event)
class EventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "type", "aggregate_type", "aggregate_id", "created_at")
    list_filter = ("type", "aggregate_type", "deliveries__state")
    search_fields = ("=aggregate_id", "=idempotency_key", "type")
    readonly_fields = (
        "type", "aggregate_type", "aggregate_id", "payload", "idempotency_key", "created_at",
    )
    date_hierarchy = "created_at"
    inlines = [EventDeliveryInline]
    actions = ["redeliver_failed"]

    @admin.action(
        description="Redeliver the failed deliveries of the selected events",
        permissions=["redeliver"],
    )
    def redeliver_failed(self, request, queryset) -> None:
        failed = EventDelivery.objects.filter(
            event__in=queryset, state=EventDelivery.State.FAILED
        ).order_by("pk")
        _redeliver(self, request, failed)

    def has_redeliver_permission(self, request) -> bool:
        return _can_redeliver(request)


@admin.register(EventDelivery)
class EventDeliveryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "id", "event", "handler", "state", "attempts", "next_attempt_at", "delivered_at",
    )
    list_filter = ("state", "event__type", "handler")
    search_fields = ("=event__id", "=event__aggregate_id", "handler")
    list_select_related = ("event",)
    readonly_fields = (
        "event", "handler", "state", "attempts", "last_attempt_at", "next_attempt_at",
        "delivered_at", "last_error", "created_at", "updated_at",
    )
    actions = ["redeliver"]

    @admin.action(description="Redeliver the selected deliveries", permissions=["redeliver"])
    def redeliver(self, request, queryset) -> None:
        _redeliver(self, request, queryset.order_by("pk"))

    def has_redeliver_permission(self, request) -> bool:
        return _can_redeliver(request)
