"""Operator admin for Flash Cards: issue, program, wipe, freeze and cancel cards; keys; tap log."""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from cards import selectors
from cards.forms import CardIssueForm, CardReasonForm
from cards.models import (
    Card,
    CardEvent,
    CardPayment,
    CardTopUp,
    CardTopUpPayment,
    IssuerKey,
    MerchantSettlementSchedule,
    ProgrammingLink,
    SettlementBatch,
    TapLog,
)
from cards.services import cards as card_services
from cards.services import issuer_keys, programming, settlement
from flashpay.adminkit import ReadOnlyAdminMixin
from flashpay.errors import ApplicationError
from flashpay.money import Msat
from flashpay.qr import qr_svg


class CardEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CardEvent
    extra = 0
    can_delete = False
    fields = ("created_at", "kind", "from_status", "to_status", "actor", "reason")
    readonly_fields = fields
    ordering = ("-pk",)


def _link_rows(links) -> list[dict]:
    return [
        {
            "card": created.link.card,
            "kind": created.link.kind,
            "url": created.url,
            "deeplink": created.deeplink,
            "qr": qr_svg(created.deeplink),
            "expires_at": created.link.expires_at,
            "activation_code": activation_code,
        }
        for created, activation_code in links
    ]


def _render_links(modeladmin, request, rows, title):
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "rows": rows,
        "opts": modeladmin.model._meta,
        "changelist_url": reverse("admin:cards_card_changelist"),
    }
    response = TemplateResponse(request, "cards/admin/links.html", context)
    # Tokens and activation codes are shown once: keep them out of every cache.
    response["Cache-Control"] = "no-store"
    return response


def _status_action(service, verb: str, description: str):
    def action(modeladmin, request, queryset):
        form = CardReasonForm(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done, refused = 0, []
            for card in queryset.order_by("pk"):
                try:
                    service(card=card, actor=request.user, reason=form.cleaned_data["reason"])
                    done += 1
                except ApplicationError as exc:
                    refused.append(f"{card.name}: {exc.message}")
            if done:
                modeladmin.message_user(request, f"{done} card(s) {verb}.", messages.SUCCESS)
            for line in refused:
                modeladmin.message_user(request, line, messages.ERROR)
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": f"{description}?",
            "cards": queryset.order_by("pk"),
            "form": form,
            "action": request.POST.get("action"),
            "verb": verb,
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "cards/admin/confirm_status.html", context)

    action.__name__ = f"{verb}_cards"
    return admin.action(description=description, permissions=["change"])(action)


@admin.register(Card)
class CardAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "public_id",
        "status",
        "holder",
        "uid",
        "key_version",
        "last_counter",
        "programmed_at",
        "created_at",
    )
    list_filter = ("status", "issuer_key")
    search_fields = ("uid", "public_id", "name", "holder__username", "holder__email")
    list_select_related = ("holder",)
    raw_id_fields = ("holder",)
    fields = (
        "public_id",
        "name",
        "holder",
        "status",
        "per_transaction_limit_msat",
        "daily_limit_msat",
        "uid",
        "key_version",
        "last_counter",
        "issuer_key",
        "programmed_at",
        "wiped_at",
        "activated_at",
        "created_at",
        "updated_at",
        "balance",
        "owed",
    )
    readonly_fields = tuple(
        f
        for f in fields
        if f not in {"name", "holder", "per_transaction_limit_msat", "daily_limit_msat"}
    )
    inlines = [CardEventInline]
    actions = [
        _status_action(card_services.card_activate, "activated", "Activate selected cards"),
        _status_action(card_services.card_freeze, "frozen", "Freeze selected cards"),
        _status_action(card_services.card_unfreeze, "unfrozen", "Unfreeze selected cards"),
        _status_action(card_services.card_cancel, "canceled", "Cancel selected cards"),
        "make_program_links",
        "make_wipe_links",
    ]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # cancel instead: the card's history and ledger stay

    @admin.display(description="balance (posted / available / incoming)")
    def balance(self, obj) -> str:
        if obj is None or obj.pk is None:
            return "-"
        balance = selectors.card_balance(card=obj)
        return f"{balance.posted} / {balance.available} / {balance.pending_credit}"

    @admin.display(description="owed by the holder")
    def owed(self, obj) -> str:
        """A top-up taken back after the card spent it (the card's receivable account)."""
        if obj is None or obj.pk is None:
            return "-"
        return str(Msat(selectors.card_owed_msat(card=obj)))

    def get_urls(self):
        issue = path("issue/", self.admin_site.admin_view(self.issue_view), name="cards_card_issue")
        return [issue, *super().get_urls()]

    def add_view(self, request, form_url="", extra_context=None):
        # Cards are issued through the service (activation code, programming link, events).
        return HttpResponseRedirect(reverse("admin:cards_card_issue"))

    def issue_view(self, request):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = CardIssueForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                issued = card_services.card_issue_batch(
                    count=data["count"],
                    name_prefix=data["name_prefix"],
                    per_transaction_limit_msat=Msat.from_sat(
                        data["per_transaction_limit_sat"]
                    ).value,
                    daily_limit_msat=Msat.from_sat(data["daily_limit_sat"]).value,
                    actor=request.user,
                )
            except ApplicationError as exc:
                form.add_error(None, exc.message)
            else:
                rows = _link_rows((i.program_link, i.activation_code) for i in issued)
                return _render_links(self, request, rows, f"{len(issued)} card(s) issued")
        context = {
            **self.admin_site.each_context(request),
            "title": "Issue Flash Cards",
            "form": form,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "cards/admin/issue.html", context)

    def save_model(self, request, obj, form, change):
        # Only the change form reaches here (add goes to issue_view); route it to the service.
        updated = card_services.card_update(
            card=obj,
            name=form.cleaned_data["name"],
            holder=form.cleaned_data["holder"],
            per_transaction_limit_msat=form.cleaned_data["per_transaction_limit_msat"],
            daily_limit_msat=form.cleaned_data["daily_limit_msat"],
            actor=request.user,
        )
        obj.__dict__.update(updated.__dict__)

    def _links(self, request, queryset, kind: str, title: str):
        links = []
        for card in queryset.order_by("pk"):
            try:
                links.append(
                    (programming.programming_link_create(card=card, kind=kind, actor=request.user), "")
                )
            except ApplicationError as exc:
                self.message_user(request, f"{card.name}: {exc.message}", messages.ERROR)
        if not links:
            return None
        return _render_links(self, request, _link_rows(links), title)

    @admin.action(description="Make programming links (QR)", permissions=["change"])
    def make_program_links(self, request, queryset):
        return self._links(request, queryset, ProgrammingLink.Kind.PROGRAM, "Programming links")

    @admin.action(description="Make wipe links (QR)", permissions=["change"])
    def make_wipe_links(self, request, queryset):
        return self._links(request, queryset, ProgrammingLink.Kind.WIPE, "Wipe links")


@admin.register(IssuerKey)
class IssuerKeyAdmin(admin.ModelAdmin):
    list_display = ("ref", "label", "is_active", "created_at", "retired_at")
    fields = ("label",)
    actions = ["make_active"]

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("label",)
        return ("ref", "label", "is_active", "created_at", "retired_at")

    def get_readonly_fields(self, request, obj=None):
        # The key itself is never shown, not even encrypted.
        return () if obj is None else ("ref", "label", "is_active", "created_at", "retired_at")

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # cards programmed with it would become unverifiable

    def save_model(self, request, obj, form, change):
        if change:
            return
        created = issuer_keys.issuer_key_create(label=form.cleaned_data["label"], activate=True)
        obj.__dict__.update(created.__dict__)

    @admin.action(description="Make the selected key the active one", permissions=["change"])
    def make_active(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one key.", messages.ERROR)
            return
        key = issuer_keys.issuer_key_activate(issuer_key=queryset.get())
        self.message_user(request, f"{key} is now used for new programming.", messages.SUCCESS)


@admin.register(ProgrammingLink)
class ProgrammingLinkAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = (
        "card",
        "kind",
        "created_by",
        "created_at",
        "expires_at",
        "used_at",
        "revoked_at",
    )
    list_filter = ("kind",)
    search_fields = ("card__public_id", "card__name", "card__uid")
    list_select_related = ("card", "created_by")
    exclude = ("token_hash",)


@admin.register(TapLog)
class TapLogAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "card", "uid", "counter", "outcome", "reason", "ip")
    list_filter = ("outcome",)
    search_fields = ("uid", "card__public_id", "card__name", "card__uid")
    list_select_related = ("card",)
    date_hierarchy = "created_at"


# --- payments, top-ups and merchant settlement ----------------------------------------------


@admin.register(CardPayment)
class CardPaymentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "card", "kind", "status", "amount", "fee", "merchant_name", "settlement_batch", "node_invoice_canceled_at")
    list_filter = ("kind", "status")
    search_fields = ("payment_hash", "public_id", "card__public_id", "card__uid", "merchant_name", "merchant_store_id")
    list_select_related = ("card", "settlement_batch")
    exclude = ("preimage",)

    @admin.display(description="amount")
    def amount(self, obj) -> str:
        return str(Msat(obj.amount_msat))

    @admin.display(description="fee")
    def fee(self, obj) -> str:
        return str(Msat(obj.fee_msat))


class CardTopUpPaymentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CardTopUpPayment
    extra = 0
    can_delete = False
    fields = ("payment_id", "amount_msat", "state", "reversed_msat", "owed_msat", "moves", "updated_at")
    readonly_fields = fields


@admin.register(CardTopUp)
class CardTopUpAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "card", "invoice_id", "status", "amount_msat", "credited_msat", "pending_msat", "credited_at")
    list_filter = ("status",)
    search_fields = ("invoice_id", "public_id", "card__public_id")
    inlines = [CardTopUpPaymentInline]


@admin.register(MerchantSettlementSchedule)
class MerchantSettlementScheduleAdmin(admin.ModelAdmin):
    list_display = ("store_id", "interval_days", "minimum_msat", "fee_ppm", "destination_type", "destination", "enabled", "last_batch_at")
    search_fields = ("store_id", "destination")
    fields = ("store_id", "interval_days", "minimum_msat", "fee_ppm", "destination_type", "destination", "enabled")

    def save_model(self, request, obj, form, change):
        try:
            settlement.settlement_schedule_set(
                store_id=obj.store_id,
                destination_type=obj.destination_type,
                destination=obj.destination,
                interval_days=obj.interval_days,
                minimum_msat=obj.minimum_msat,
                fee_ppm=obj.fee_ppm,
                enabled=obj.enabled,
            )
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)


@admin.register(SettlementBatch)
class SettlementBatchAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "public_id", "store_id", "status", "gross_msat", "fee_msat", "net_msat", "destination", "paid_at")
    list_filter = ("status", "destination_type")
    search_fields = ("public_id", "store_id", "payment_hash", "txid")
    actions = ["download_csv", "mark_paid"]

    @admin.action(description="Download CSV (one batch)")
    def download_csv(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one batch.", messages.ERROR)
            return None
        batch = queryset.get()
        response = HttpResponse(selectors.settlement_batch_csv(batch=batch), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="settlement-{batch.public_id}.csv"'
        return response

    @admin.action(description="Mark paid (after the on-chain payout was sent)", permissions=["view"])
    def mark_paid(self, request, queryset):
        if not request.user.is_superuser:
            raise PermissionDenied
        for batch in queryset:
            try:
                settlement.settlement_batch_mark_paid(batch=batch)
            except ApplicationError as exc:
                self.message_user(request, f"{batch.public_id}: {exc.message}", messages.ERROR)
