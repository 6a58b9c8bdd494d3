"""Operator admin for invoices and store payment setup: writes go through the invoice services."""
from __future__ import annotations

from django import forms
from django.contrib import admin, messages

from flashpay.adminkit import ReadOnlyAdminMixin
from flashpay.errors import ApplicationError, FieldError
from invoices.models import (
    Invoice,
    InvoiceEvent,
    InvoicePayment,
    InvoicePaymentPrompt,
    PaymentMethodId,
    StorePaymentMethod,
)
from invoices.selectors import store_payment_method_data
from invoices.services.invoices import invoice_mark_status
from invoices.services.store_payment_methods import (
    store_payment_method_config_validate,
    store_payment_method_update,
)


class _ReadOnlyInline(ReadOnlyAdminMixin, admin.TabularInline):
    extra = 0
    can_delete = False


class PromptInline(_ReadOnlyInline):
    model = InvoicePaymentPrompt
    # A replaced BTC-LN BOLT11 stays listed (payments to it still count): what it asked for, when
    # it was replaced and when its node canceled it tell an operator why there are two.
    fields = readonly_fields = (
        "payment_method_id", "destination", "amount_msat", "key_path", "internal_node", "created_at",
        "superseded_at", "node_canceled_at",
    )


class PaymentInline(_ReadOnlyInline):
    model = InvoicePayment
    fields = readonly_fields = ("payment_method_id", "payment_id", "amount_msat", "status", "block_height", "after_expiration", "received_at")


class EventInline(_ReadOnlyInline):
    model = InvoiceEvent
    fields = readonly_fields = ("created_at", "from_status", "from_additional_status", "to_status", "to_additional_status", "actor", "reason")


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Invoices are read-only here; the actions mark them through the same service as the API."""

    list_display = ("id", "store", "status", "additional_status", "amount", "currency", "amount_msat", "order_id", "created_at", "archived")
    list_filter = ("status", "additional_status", "type", "archived", "currency")
    search_fields = ("id", "order_id", "search_text", "store__name", "store__id")
    ordering = ("-created_at",)
    inlines = [PromptInline, PaymentInline, EventInline]
    actions = ["mark_settled", "mark_invalid"]


    def _mark(self, request, queryset, status: str) -> None:
        done = 0
        for invoice in queryset.order_by("pk"):
            try:
                invoice_mark_status(invoice=invoice, status=status, actor=f"admin:{request.user.pk}")
                done += 1
            except ApplicationError as exc:
                self.message_user(request, f"{invoice.pk}: {exc.message}", level=messages.WARNING)
        if done:
            self.message_user(request, f"{done} invoice(s) marked {status}.")

    @admin.action(description="Mark selected invoices Settled", permissions=["view"])
    def mark_settled(self, request, queryset):
        self._mark(request, queryset, "Settled")

    @admin.action(description="Mark selected invoices Invalid", permissions=["view"])
    def mark_invalid(self, request, queryset):
        self._mark(request, queryset, "Invalid")


class StorePaymentMethodForm(forms.ModelForm):
    """The Greenfield PUT as a form: the config is a derivation scheme or a Lightning connection string."""

    config = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="BTC-CHAIN: xpub/ypub/zpub/tpub or output descriptor. BTC-LN: 'Internal Node' or "
        "a connection string (type=lnd-grpc;server=...;macaroon=...). Leave empty to keep the current "
        "config. The stored connection string is encrypted and never shown.",
    )

    class Meta:
        model = StorePaymentMethod
        fields = ("store", "payment_method_id", "enabled")

    def clean(self):
        cleaned = super().clean()
        config = cleaned.get("config") or None
        method_id = cleaned.get("payment_method_id") or getattr(self.instance, "payment_method_id", None)
        if config is None and self.instance.pk is None:
            self.add_error("config", "A new payment method needs a config")
        elif config is not None and method_id:
            try:
                store_payment_method_config_validate(payment_method_id=method_id, config=config)
            except FieldError as exc:
                self.add_error("config", exc.message)
        return cleaned

    def validate_unique(self):
        pass  # the service updates the existing row of (store, method) instead of refusing it


@admin.register(StorePaymentMethod)
class StorePaymentMethodAdmin(admin.ModelAdmin):
    form = StorePaymentMethodForm
    list_display = ("store", "payment_method_id", "enabled", "summary", "updated_at")
    list_filter = ("payment_method_id", "enabled", "internal_node")
    search_fields = ("store__name", "store__id")
    readonly_fields = ("summary",)

    @admin.display(description="Config")
    def summary(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        try:
            config = store_payment_method_data(obj, include_config=True).get("config") or {}
        except ApplicationError:
            return "(stored connection string cannot be decrypted)"
        if obj.payment_method_id == PaymentMethodId.BTC_CHAIN:
            return config.get("derivationScheme", "")
        return config.get("connectionString", "")

    def get_readonly_fields(self, request, obj=None):
        # store and method are the row's identity; change them by deleting and adding
        return ("store", "payment_method_id", "summary") if obj is not None else ("summary",)

    def save_model(self, request, obj, form, change):
        # validated in the form's clean(); the service writes (and re-validates)
        saved = store_payment_method_update(
            store=obj.store,
            payment_method_id=obj.payment_method_id,
            enabled=form.cleaned_data.get("enabled"),
            config=form.cleaned_data.get("config") or None,
        )
        obj.pk = saved.pk
