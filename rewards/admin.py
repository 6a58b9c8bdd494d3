"""Operator console for rewards: funders (top-ups), earning rules, tiers, bonuses, campaigns (pause,
resume, end), catalog and codes, members (adjust points), awards (reverse), refusals, redemptions.

Every write goes through a service; rows that only services change are read-only here.
"""
from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count
from django.template.response import TemplateResponse

from flashpay.adminkit import ReadOnlyAdminMixin
from flashpay.errors import ApplicationError
from rewards.forms import (
    AdjustPointsForm,
    CampaignForm,
    CatalogItemForm,
    ReasonForm,
    RequiredReasonForm,
    TopUpForm,
)
from rewards.models import (
    MSAT_PER_POINT,
    Adjustment,
    Award,
    AwardPart,
    Campaign,
    CampaignEvent,
    CatalogCode,
    CatalogItem,
    EarningRule,
    FundingAccount,
    FundingTopUp,
    IssuanceRefusal,
    Member,
    ProgramSettings,
    Redemption,
    Tier,
)
from rewards.services import campaigns, earning, funding, lifecycle, members, redemption


def _points(msat: int | None) -> str:
    return f"{(msat or 0) // MSAT_PER_POINT:,}"


class ActionsOnlyMixin:
    """Rows that change only through services, with actions: the change list and its actions
    are open to operators with "change" permission, each row's page is read-only."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return obj is None and super().has_change_permission(request, obj)


def form_action(*, form_class, description: str, intro: str, apply, name: str):
    """An admin action that asks for a form (reason, amount) first, then applies a service to
    each selected row; refusals are shown one per row, nothing half-done."""

    def action(modeladmin, request, queryset):
        form = form_class(request.POST if "apply" in request.POST else None)
        if "apply" in request.POST and form.is_valid():
            done = 0
            for obj in queryset.order_by("pk"):
                try:
                    apply(request=request, obj=obj, data=form.cleaned_data)
                    done += 1
                except ApplicationError as exc:
                    modeladmin.message_user(request, f"{obj}: {exc.message}", messages.ERROR)
            if done:
                modeladmin.message_user(request, f"{description}: {done} done.", messages.SUCCESS)
            return None
        context = {
            **modeladmin.admin_site.each_context(request),
            "title": description,
            "intro": intro,
            "rows": queryset.order_by("pk"),
            "form": form,
            "action": request.POST.get("action"),
            "opts": modeladmin.model._meta,
        }
        return TemplateResponse(request, "rewards/admin/action_form.html", context)

    action.__name__ = name
    return admin.action(description=description, permissions=["change"])(action)


# --- funders ------------------------------------------------------------------------------------


class FundingTopUpInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = FundingTopUp
    extra = 0
    fields = ("created_at", "points", "note", "actor", "txn_id")
    readonly_fields = fields
    ordering = ("-pk",)

    @admin.display(description="sats")
    def points(self, obj):
        return _points(obj.amount_msat)


def _top_up(*, request, obj, data):
    funding.funder_top_up(funder=obj, points=data["points"], note=data["note"], actor=request.user)


@admin.register(FundingAccount)
class FundingAccountAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = ("name", "kind", "store", "balance", "refusal_count", "created_at")
    list_filter = ("kind",)
    search_fields = ("name", "store__name", "store__id")
    readonly_fields = ("name", "kind", "store", "account", "balance", "created_at")
    fields = readonly_fields
    inlines = [FundingTopUpInline]
    actions = [
        form_action(
            form_class=TopUpForm, description="Top up the selected funders", name="top_up",
            intro="Each selected funder is credited the sats you received, from the operators' top-up account:",
            apply=_top_up,
        )
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("account", "store").annotate(refusals_count=Count("refusals"))

    @admin.display(description="balance (sats)")
    def balance(self, obj):
        return _points(obj.account.posted_msat - obj.account.pending_debit_msat)

    @admin.display(description="refusals", ordering="refusals_count")
    def refusal_count(self, obj):
        return obj.refusals_count


@admin.register(IssuanceRefusal)
class IssuanceRefusalAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "funder", "campaign", "store", "member", "wanted", "reason")
    list_filter = ("funder",)
    list_select_related = ("funder", "campaign", "store", "member")
    search_fields = ("key", "reason")

    @admin.display(description="points wanted")
    def wanted(self, obj):
        return _points(obj.wanted_msat)


# --- rules, tiers, program settings ------------------------------------------------------------------


@admin.register(EarningRule)
class EarningRuleAdmin(admin.ModelAdmin):
    list_display = (
        "store", "enabled", "rate_percent", "min_points", "max_points", "tap_points", "earn_on_card_payment",
        "earn_on_invoice", "hold_days", "funding_source", "funder_balance",
    )
    list_filter = ("enabled", "funding_source")
    search_fields = ("store__name", "store__id")
    list_select_related = ("store", "funder__account")
    raw_id_fields = ("store",)

    def save_model(self, request, obj, form, change):
        earning.earning_rule_save(rule=obj)

    @admin.display(description="funder balance (sats)")
    def funder_balance(self, obj):
        return _points(obj.funder.account.posted_msat - obj.funder.account.pending_debit_msat)


@admin.register(Tier)
class TierAdmin(admin.ModelAdmin):
    list_display = ("name", "min_spend_points", "multiplier", "member_count")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(members_count=Count("members"))

    @admin.display(description="members", ordering="members_count")
    def member_count(self, obj):
        return obj.members_count


@admin.register(ProgramSettings)
class ProgramSettingsAdmin(admin.ModelAdmin):
    list_display = ("__str__", "signup_bonus_points", "referral_bonus_points", "referral_cap_per_referrer")

    def has_add_permission(self, request):
        return not ProgramSettings.objects.exists()

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        obj.pk = 1
        super().save_model(request, obj, form, change)


# --- campaigns ---------------------------------------------------------------------------------------


class CampaignEventInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CampaignEvent
    extra = 0
    fields = ("created_at", "from_state", "to_state", "actor", "reason")
    readonly_fields = fields
    ordering = ("-pk",)


def _transition_action(service, verb: str):
    def apply(*, request, obj, data):
        service(campaign=obj, actor=request.user, reason=data["reason"])

    return form_action(
        form_class=ReasonForm, description=f"{verb.capitalize()} the selected campaigns", name=f"{verb}_campaigns",
        intro=f"These campaigns will be {verb}d:" if verb != "end" else "These campaigns will end:", apply=apply,
    )


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignForm
    list_display = ("name", "state", "effect_text", "starts_at", "ends_at", "budget_counter", "funder")
    list_filter = ("state", "effect")
    search_fields = ("name", "public_id")
    list_select_related = ("funder",)
    readonly_fields = ("public_id", "state", "budget_counter", "created_at", "updated_at")
    filter_horizontal = ("stores",)
    inlines = [CampaignEventInline]
    actions = [
        _transition_action(campaigns.campaign_activate, "activate"),
        _transition_action(campaigns.campaign_pause, "pause"),
        _transition_action(campaigns.campaign_resume, "resume"),
        _transition_action(campaigns.campaign_end, "end"),
    ]
    fieldsets = (
        (None, {"fields": ("public_id", "name", "description", "state", "funder")}),
        ("Schedule", {"fields": ("starts_at", "ends_at", "days_of_week", "hour_from", "hour_to", "time_zone")}),
        ("Triggers and conditions", {"fields": ("on_card_payment", "on_invoice", "stores", "min_purchase_msat", "segment", "segment_days")}),
        ("Effect", {"fields": ("effect", "multiplier", "bonus_points")}),
        ("Budget and caps", {"fields": (
            "budget_points", "budget_counter", "cap_day_points", "cap_week_points", "cap_month_points", "cap_total_points",
        )}),
        ("History", {"fields": ("created_at", "updated_at")}),
    )

    def save_model(self, request, obj, form, change):
        campaigns.campaign_save(campaign=obj, actor=request.user)

    @admin.display(description="effect")
    def effect_text(self, obj):
        return f"x{obj.multiplier}" if obj.effect == Campaign.Effect.MULTIPLIER else f"+{obj.bonus_points} points"

    @admin.display(description="granted / budget (points)")
    def budget_counter(self, obj):
        if obj.budget_points is None:
            return f"{_points(obj.spent_msat)} / no limit"
        share = 100 * obj.spent_msat // max(obj.budget_points * MSAT_PER_POINT, 1)
        return f"{_points(obj.spent_msat)} / {obj.budget_points:,} ({share} %)"


# --- catalog ---------------------------------------------------------------------------------------------


class CatalogCodeInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = CatalogCode
    extra = 0
    fields = ("code", "created_at", "handed_out_at")
    readonly_fields = fields
    ordering = ("pk",)


@admin.register(CatalogItem)
class CatalogItemAdmin(admin.ModelAdmin):
    form = CatalogItemForm
    list_display = ("name", "kind", "price_points", "stock", "uses_codes", "free_codes", "active")
    list_filter = ("kind", "active")
    search_fields = ("name", "public_id")
    raw_id_fields = ("store",)
    inlines = [CatalogCodeInline]

    def get_queryset(self, request):
        from django.db.models import Q

        return super().get_queryset(request).annotate(free=Count("codes", filter=Q(codes__handed_out_at__isnull=True)))

    @admin.display(description="free codes", ordering="free")
    def free_codes(self, obj):
        return obj.free if obj.uses_codes else "-"

    def save_model(self, request, obj, form, change):
        redemption.catalog_item_save(item=obj)
        codes = form.cleaned_data.get("codes_to_add", "")
        if codes.strip():
            try:
                added = redemption.catalog_codes_add(item=obj, codes=codes.splitlines())
                self.message_user(request, f"{added} code(s) added.", messages.SUCCESS)
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)


# --- members, awards, adjustments, redemptions ----------------------------------------------------------


class AwardInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Award
    extra = 0
    fields = ("created_at", "kind", "store", "points_text", "status", "matures_at", "remaining_text", "expires_at")
    readonly_fields = fields
    ordering = ("-created_at",)
    show_change_link = True

    @admin.display(description="points")
    def points_text(self, obj):
        return _points(obj.amount_msat)

    @admin.display(description="left")
    def remaining_text(self, obj):
        return _points(obj.remaining_msat)


class AdjustmentInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Adjustment
    extra = 0
    fields = ("created_at", "points_text", "reason", "actor")
    readonly_fields = fields
    ordering = ("-pk",)

    @admin.display(description="points")
    def points_text(self, obj):
        return f"{obj.amount_msat // MSAT_PER_POINT:+,}"


def _adjust(*, request, obj, data):
    members.member_points_adjust(member=obj, points=data["points"], reason=data["reason"], actor=request.user)


@admin.register(Member)
class MemberAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = ("public_id", "user", "tier", "pending_points", "available_points", "joined_at")
    list_filter = ("tier",)
    search_fields = ("public_id", "user__username", "user__email", "referral_code")
    list_select_related = ("user", "tier", "pending_account", "available_account")
    readonly_fields = (
        "public_id", "user", "tier", "tier_spend", "referral_code", "referred_by", "joined_at",
        "pending_points", "available_points",
    )
    fields = readonly_fields
    inlines = [AwardInline, AdjustmentInline]
    actions = [
        form_action(
            form_class=AdjustPointsForm, description="Adjust points of the selected members", name="adjust_points",
            intro="Each selected member's available points change by this amount (a ledger posting with your name and the reason):",
            apply=_adjust,
        )
    ]

    @admin.display(description="pending points")
    def pending_points(self, obj):
        return _points(obj.pending_account.posted_msat)

    @admin.display(description="available points")
    def available_points(self, obj):
        return _points(obj.available_account.posted_msat)

    @admin.display(description="spend over the tier window (sats)")
    def tier_spend(self, obj):
        return _points(obj.tier_spend_msat)


class AwardPartInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AwardPart
    extra = 0
    fields = ("campaign", "funder", "points_text")
    readonly_fields = fields

    @admin.display(description="points")
    def points_text(self, obj):
        return _points(obj.amount_msat)


def _reverse(*, request, obj, data):
    lifecycle.award_reverse(award=obj, actor=request.user, reason=data["reason"])


@admin.register(Award)
class AwardAdmin(ActionsOnlyMixin, admin.ModelAdmin):
    list_display = ("public_id", "created_at", "member", "kind", "store", "points_text", "status", "remaining_text", "matures_at")
    list_filter = ("status", "kind", "source")
    search_fields = ("public_id", "idempotency_key", "invoice_id", "payment_hash", "member__public_id", "member__user__email")
    list_select_related = ("member", "store")
    date_hierarchy = "created_at"
    inlines = [AwardPartInline]
    actions = [
        form_action(
            form_class=RequiredReasonForm, description="Reverse the selected awards", name="reverse_awards",
            intro="Pending awards are clawed back; available ones lose what is left of them (back to their funders):",
            apply=_reverse,
        )
    ]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in Award._meta.concrete_fields]

    @admin.display(description="points")
    def points_text(self, obj):
        return _points(obj.amount_msat)

    @admin.display(description="left")
    def remaining_text(self, obj):
        return _points(obj.remaining_msat)


@admin.register(Adjustment)
class AdjustmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("created_at", "member", "points_text", "reason", "actor")
    list_select_related = ("member", "actor")
    search_fields = ("member__public_id", "reason")

    @admin.display(description="points")
    def points_text(self, obj):
        return f"{obj.amount_msat // MSAT_PER_POINT:+,}"


@admin.register(Redemption)
class RedemptionAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("public_id", "created_at", "member", "kind", "points_text", "card_id", "item")
    list_filter = ("kind",)
    list_select_related = ("member", "item")
    search_fields = ("public_id", "member__public_id", "card_id")
    date_hierarchy = "created_at"
    exclude = ("code",)  # one-time codes stay with their member

    @admin.display(description="points")
    def points_text(self, obj):
        return _points(obj.amount_msat)
