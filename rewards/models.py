"""The rewards tables: funders, earning rules, tiers, members, awards, campaigns, catalog, redemptions.

Balances are never stored here: every point is a ledger entry (flashpay.ledger). These rows
say why each entry was made (the award and its parts, the redemption, the adjustment), with the
timestamps and attributions that reports and the dashboard read. Amounts are integer msat;
points are whole sats (1 point = 1 sat = 1000 msat), so every reward amount is a multiple of 1000.
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from flashpay.ids import new_id

MSAT_PER_POINT = 1000


def new_public_id() -> str:
    return new_id(12)


class FundingAccount(models.Model):
    """Who pays for points: the program budget (one row) or one merchant's rewards funding account.

    Both are ledger accounts that operators top up and that never go negative; the row names the
    account and lets rules and campaigns point at their funder.
    """

    class Kind(models.TextChoices):
        PROGRAM = "program", "Program budget"
        MERCHANT = "merchant", "Merchant funding"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    store = models.OneToOneField(
        "accounts.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="reward_funding"
    )
    account = models.OneToOneField("ledger.Account", on_delete=models.PROTECT, related_name="+", editable=False)
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind"], condition=Q(kind="program"), name="rewards_one_program_budget"),
            models.CheckConstraint(
                condition=(Q(kind="program") & Q(store__isnull=True)) | (Q(kind="merchant") & Q(store__isnull=False)),
                name="rewards_funding_store_iff_merchant",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class EarningRule(models.Model):
    """How one merchant store's sales earn points (see rewards/services/earning.py for the maths)."""

    class FundingSource(models.TextChoices):
        MERCHANT = "merchant", "The merchant's funding account"
        PROGRAM = "program", "The program budget"

    store = models.OneToOneField("accounts.Store", on_delete=models.PROTECT, related_name="reward_rule")
    enabled = models.BooleanField(default=True)
    rate_percent = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("2.00"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("10"))],
        help_text="Points per 100 sats spent (0 to 10 %).",
    )
    min_points = models.PositiveIntegerField(default=1, help_text="Smallest reward for a purchase.")
    max_points = models.PositiveIntegerField(
        null=True, blank=True, default=10_000, help_text="Largest reward for a purchase (empty: no maximum)."
    )
    tap_points = models.PositiveIntegerField(
        default=21, help_text="Fixed points added for each Flash Card payment (0: none)."
    )
    earn_on_card_payment = models.BooleanField(default=True, help_text="A Flash Card payment at this store earns.")
    earn_on_invoice = models.BooleanField(
        default=True, help_text="A settled invoice of a known member (buyerEmail or flashMemberId) earns."
    )
    hold_days = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MaxValueValidator(365)],
        help_text="Days points stay pending (empty: REWARDS_DEFAULT_HOLD_DAYS).",
    )
    funding_source = models.CharField(max_length=16, choices=FundingSource.choices, default=FundingSource.MERCHANT)
    # Set by the service from funding_source: the funder the base points come from.
    funder = models.ForeignKey(FundingAccount, on_delete=models.PROTECT, related_name="rules", editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(rate_percent__gte=0) & Q(rate_percent__lte=10), name="rewards_rule_rate_0_10"
            ),
            models.CheckConstraint(
                condition=Q(max_points__isnull=True) | Q(max_points__gte=F("min_points")),
                name="rewards_rule_max_gte_min",
            ),
        ]

    def __str__(self) -> str:
        return f"Earning rule of {self.store_id}"


class Tier(models.Model):
    """A member tier, earned by spend over the last REWARDS_TIER_WINDOW_DAYS; multiplies base points."""

    name = models.CharField(max_length=50, unique=True)
    min_spend_points = models.PositiveBigIntegerField(unique=True, help_text="Spend (in sats) over the window to reach it.")
    multiplier = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("1.00"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("10"))],
    )

    class Meta:
        ordering = ["min_spend_points"]
        constraints = [
            models.CheckConstraint(
                condition=Q(multiplier__gte=1) & Q(multiplier__lte=10), name="rewards_tier_multiplier_1_10"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} (x{self.multiplier})"


class ProgramSettings(models.Model):
    """The program's bonuses and their abuse limits; one row (pk 1), edited in the admin."""

    signup_bonus_points = models.PositiveIntegerField(default=0, help_text="0: no sign-up bonus.")
    referral_bonus_points = models.PositiveIntegerField(
        default=0, help_text="Points the referrer earns per referred member who joins (0: none)."
    )
    referral_cap_per_referrer = models.PositiveIntegerField(
        default=10, help_text="Most referral bonuses one referrer can earn, ever."
    )
    referral_window_days = models.PositiveSmallIntegerField(
        default=30, help_text="A referral code counts only if used within this many days of the member's first contact."
    )
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name = "program settings"
        verbose_name_plural = "program settings"
        constraints = [models.CheckConstraint(condition=Q(pk=1), name="rewards_program_settings_single_row")]

    def __str__(self) -> str:
        return "Rewards program settings"


class Member(models.Model):
    """A Flash app user in the rewards program, with their two point accounts.

    Points are pending (``pending_account``) during the hold period and available
    (``available_account``) after it; two ledger accounts rather than one with holds, so each
    balance is a plain posted balance and the history shows every move between them.
    """

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reward_member")
    tier = models.ForeignKey(Tier, null=True, blank=True, on_delete=models.SET_NULL, related_name="members")
    # Spend over the tier window at the last recompute (msat), what the tier was chosen by.
    tier_spend_msat = models.BigIntegerField(default=0, editable=False)
    tier_updated_at = models.DateTimeField(null=True, blank=True, editable=False)
    referral_code = models.CharField(max_length=16, unique=True, editable=False)
    referred_by = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="referrals")
    joined_at = models.DateTimeField(default=timezone.now, db_index=True, editable=False)
    pending_account = models.OneToOneField("ledger.Account", on_delete=models.PROTECT, related_name="+", editable=False)
    available_account = models.OneToOneField("ledger.Account", on_delete=models.PROTECT, related_name="+", editable=False)

    def __str__(self) -> str:
        return f"member {self.public_id}"


class Campaign(models.Model):
    """A time-boxed promotion: when and where it applies, what it adds, its budget and caps."""

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active"
        PAUSED = "paused", "Paused"
        ENDED = "ended", "Ended"

    class Effect(models.TextChoices):
        MULTIPLIER = "multiplier", "Multiplier of the base points"
        BONUS = "bonus", "Fixed bonus points"

    class Segment(models.TextChoices):
        ALL = "all", "All members"
        NEW = "new", "New members (joined within the segment days)"
        INACTIVE = "inactive", "Members inactive for the segment days"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True, help_text="Shown in the Flash app.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT, editable=False)
    # Schedule: [starts_at, ends_at), on the given days and hours in time_zone.
    starts_at = models.DateTimeField(default=timezone.now)
    ends_at = models.DateTimeField(null=True, blank=True)
    days_of_week = models.CharField(
        max_length=7, blank=True, default="", help_text="Days it runs, 0 = Monday .. 6 = Sunday, e.g. 0123456 or 56 (empty: every day)."
    )
    hour_from = models.PositiveSmallIntegerField(default=0, validators=[MaxValueValidator(23)])
    hour_to = models.PositiveSmallIntegerField(
        default=24, validators=[MinValueValidator(1), MaxValueValidator(24)],
        help_text="Runs from hour_from to hour_to local time (hour_from > hour_to runs overnight).",
    )
    time_zone = models.CharField(max_length=64, default="", blank=True, help_text="IANA time zone of the schedule and caps.")
    # Triggers and conditions.
    on_card_payment = models.BooleanField(default=True)
    on_invoice = models.BooleanField(default=True)
    stores = models.ManyToManyField(
        "accounts.Store", blank=True, related_name="+", help_text="Merchants it applies to (none selected: every participating merchant)."
    )
    min_purchase_msat = models.BigIntegerField(default=0, validators=[MinValueValidator(0)])
    segment = models.CharField(max_length=16, choices=Segment.choices, default=Segment.ALL)
    segment_days = models.PositiveSmallIntegerField(default=30)
    # Effect.
    effect = models.CharField(max_length=16, choices=Effect.choices, default=Effect.BONUS)
    multiplier = models.DecimalField(
        max_digits=4, decimal_places=2, default=Decimal("2.00"),
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(Decimal("10"))],
    )
    bonus_points = models.PositiveIntegerField(default=0)
    # Budget (points) and its live counter (msat), and per-member caps (points; empty: none).
    budget_points = models.PositiveBigIntegerField(null=True, blank=True, help_text="Empty: no budget limit.")
    spent_msat = models.BigIntegerField(default=0, editable=False)
    cap_day_points = models.PositiveIntegerField(null=True, blank=True)
    cap_week_points = models.PositiveIntegerField(null=True, blank=True)
    cap_month_points = models.PositiveIntegerField(null=True, blank=True)
    cap_total_points = models.PositiveIntegerField(null=True, blank=True)
    funder = models.ForeignKey(FundingAccount, on_delete=models.PROTECT, related_name="campaigns")
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    updated_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["state", "starts_at"], name="rewards_campaign_live")]
        constraints = [
            models.CheckConstraint(condition=Q(spent_msat__gte=0), name="rewards_campaign_spent_not_negative"),
            # The budget is never overspent, whatever the code above it does.
            models.CheckConstraint(
                condition=Q(budget_points__isnull=True) | Q(spent_msat__lte=F("budget_points") * MSAT_PER_POINT),
                name="rewards_campaign_within_budget",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__isnull=True) | Q(ends_at__gt=F("starts_at")), name="rewards_campaign_ends_after_start"
            ),
            models.CheckConstraint(condition=Q(hour_from__lte=23) & Q(hour_to__gte=1) & Q(hour_to__lte=24), name="rewards_campaign_hours"),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignEvent(models.Model):
    """Audit trail of a campaign's state: who moved it, when, from what to what and why."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="events")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    from_state = models.CharField(max_length=16, blank=True)
    to_state = models.CharField(max_length=16)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.campaign_id}: {self.from_state or '-'} -> {self.to_state}"


class Award(models.Model):
    """Points given to a member for one reason (a purchase, a bonus, an operator's adjustment).

    One ledger transaction moved ``amount_msat`` from the funders into the member's pending
    points (``earn_txn_id``); its parts say who paid how much and for which campaign. Once
    matured, the award is a lot of available points that redemptions spend oldest-first
    (``remaining_msat``) and that expires at ``expires_at``.
    """

    class Kind(models.TextChoices):
        PURCHASE = "purchase", "Purchase"
        SIGNUP = "signup", "Sign-up bonus"
        REFERRAL = "referral", "Referral bonus"
        ADJUSTMENT = "adjustment", "Operator adjustment"

    class Source(models.TextChoices):
        CARD_PAYMENT = "card_payment", "Flash Card payment"
        INVOICE = "invoice", "Settled invoice"
        BONUS = "bonus", "Program bonus"
        OPERATOR = "operator", "Operator"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        AVAILABLE = "available", "Available"
        CLAWED_BACK = "clawed_back", "Clawed back"
        REVERSED = "reversed", "Reversed"
        EXPIRED = "expired", "Expired"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    # The source event: one award per key, ever ("card-payment:<hash>", "invoice:<id>", ...).
    idempotency_key = models.CharField(max_length=200, unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="awards", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    source = models.CharField(max_length=16, choices=Source.choices)
    store = models.ForeignKey("accounts.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False)
    # The invoice the purchase paid (invoice awards, and card payments of a FlashPay invoice).
    invoice_id = models.CharField(max_length=64, blank=True, default="")
    payment_hash = models.CharField(max_length=64, blank=True, default="")
    purchase_msat = models.BigIntegerField(default=0, help_text="The sale that earned it (attributed sales).")
    amount_msat = models.BigIntegerField()
    base_msat = models.BigIntegerField(default=0, help_text="Of which the earning rule's points (after the tier).")
    tier_multiplier = models.DecimalField(max_digits=4, decimal_places=2, default=Decimal("1.00"))
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    # Available points of this lot not yet redeemed or expired, and what became of the rest.
    remaining_msat = models.BigIntegerField(default=0)
    # Spent: redeemed, or taken back by an operator's negative adjustment.
    redeemed_msat = models.BigIntegerField(default=0)
    expired_msat = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)
    matures_at = models.DateTimeField()
    matured_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    expired_at = models.DateTimeField(null=True, blank=True)
    clawed_back_at = models.DateTimeField(null=True, blank=True)
    clawback_reason = models.CharField(max_length=500, blank=True)
    reversed_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    earn_txn_id = models.BigIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["created_at"], name="rewards_award_created"),
            models.Index(fields=["member", "created_at"], name="rewards_award_member_created"),
            models.Index(fields=["store", "created_at"], name="rewards_award_store_created"),
            models.Index(fields=["matured_at"], name="rewards_award_matured", condition=Q(matured_at__isnull=False)),
            models.Index(fields=["expired_at"], name="rewards_award_expired", condition=Q(expired_at__isnull=False)),
            models.Index(fields=["clawed_back_at"], name="rewards_award_clawed_back", condition=Q(clawed_back_at__isnull=False)),
            # The maturing task's and the expiry task's scans.
            models.Index(fields=["matures_at"], name="rewards_award_due_mature", condition=Q(status="pending")),
            models.Index(
                fields=["expires_at"], name="rewards_award_due_expire",
                condition=Q(status="available", remaining_msat__gt=0, expires_at__isnull=False),
            ),
            models.Index(fields=["invoice_id"], name="rewards_award_invoice", condition=~Q(invoice_id="")),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount_msat__gt=0), name="rewards_award_amount_positive"),
            models.CheckConstraint(
                condition=Q(remaining_msat__gte=0) & Q(redeemed_msat__gte=0) & Q(expired_msat__gte=0),
                name="rewards_award_lot_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(remaining_msat__lte=F("amount_msat") - F("redeemed_msat") - F("expired_msat")),
                name="rewards_award_lot_within_amount",
            ),
        ]

    def __str__(self) -> str:
        return f"award {self.public_id} ({self.amount_msat // MSAT_PER_POINT} points, {self.status})"

    @property
    def points(self) -> int:
        return self.amount_msat // MSAT_PER_POINT


class AwardPart(models.Model):
    """Who paid for a slice of an award and why: the earning rule's base (no campaign) or a campaign.

    Member and time are copied from the award, so campaign caps and per-campaign reports read
    one index.
    """

    award = models.ForeignKey(Award, on_delete=models.PROTECT, related_name="parts")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="parts", db_index=False)
    funder = models.ForeignKey(FundingAccount, on_delete=models.PROTECT, related_name="+", db_index=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="+", db_index=False)
    amount_msat = models.BigIntegerField()
    created_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(
                fields=["campaign", "member", "created_at"], name="rewards_part_campaign_member",
                condition=Q(campaign__isnull=False),
            ),
            models.Index(fields=["campaign", "created_at"], name="rewards_part_campaign_created", condition=Q(campaign__isnull=False)),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount_msat__gt=0), name="rewards_part_amount_positive")]

    def __str__(self) -> str:
        return f"{self.amount_msat // MSAT_PER_POINT} points of award {self.award_id}"


class IssuanceRefusal(models.Model):
    """Points that were due but not issued because their funder had too little: the clear reason
    an operator sees in the admin (top the funder up to resume issuance)."""

    # The award's idempotency key plus which part ("base" or the campaign id): one row per miss.
    key = models.CharField(max_length=220, unique=True)
    funder = models.ForeignKey(FundingAccount, on_delete=models.PROTECT, related_name="refusals")
    campaign = models.ForeignKey(Campaign, null=True, blank=True, on_delete=models.PROTECT, related_name="refusals")
    member = models.ForeignKey(Member, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    store = models.ForeignKey("accounts.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    wanted_msat = models.BigIntegerField()
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"refused {self.wanted_msat // MSAT_PER_POINT} points: {self.reason}"


class BonusClaim(models.Model):
    """A thing a sign-up or referral bonus was paid for, once ever: the abuse limits.

    Keys: ``signup:member:<id>``, ``signup:email:<normalised address>``, ``signup:card:<card id>``,
    ``referral:member:<referred member id>``, ``referral:card:<referred member's card id>``.
    """

    key = models.CharField(max_length=300, unique=True)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="bonus_claims")
    award = models.ForeignKey("Award", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return self.key


class FundingTopUp(models.Model):
    """An operator's top-up of a funder (a ledger posting from the operators' external account)."""

    funder = models.ForeignKey(FundingAccount, on_delete=models.PROTECT, related_name="topups")
    amount_msat = models.BigIntegerField()
    note = models.CharField(max_length=500)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    txn_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=Q(amount_msat__gt=0), name="rewards_topup_positive")]

    def __str__(self) -> str:
        return f"top-up of {self.funder}: {self.amount_msat // MSAT_PER_POINT} sats"


class Adjustment(models.Model):
    """An operator's change of a member's available points, with who and why."""

    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="adjustments")
    amount_msat = models.BigIntegerField(help_text="Signed: positive adds points.")
    reason = models.CharField(max_length=500)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    # The lot a positive adjustment made (it matures at once and expires like any points).
    award = models.OneToOneField(Award, null=True, blank=True, on_delete=models.PROTECT, related_name="adjustment")
    txn_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        constraints = [models.CheckConstraint(condition=~Q(amount_msat=0), name="rewards_adjustment_not_zero")]

    def __str__(self) -> str:
        return f"{self.amount_msat // MSAT_PER_POINT:+d} points for {self.member_id}"


class CatalogItem(models.Model):
    """Something points buy: a voucher or a service, with optional stock and one-time codes."""

    class Kind(models.TextChoices):
        VOUCHER = "voucher", "Voucher"
        SERVICE = "service", "Service"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=500, blank=True)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.VOUCHER)
    price_points = models.PositiveIntegerField(validators=[MinValueValidator(1)])
    # Empty: unlimited (e.g. a service); items with codes are also bounded by their free codes.
    stock = models.PositiveIntegerField(null=True, blank=True)
    uses_codes = models.BooleanField(default=False, help_text="Each redemption hands out one of the item's one-time codes.")
    active = models.BooleanField(default=True)
    store = models.ForeignKey(
        "accounts.Store", null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="The merchant it is redeemed at, if any."
    )
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["price_points", "pk"]
        constraints = [models.CheckConstraint(condition=Q(price_points__gte=1), name="rewards_item_price_positive")]

    def __str__(self) -> str:
        return f"{self.name} ({self.price_points} points)"


class CatalogCode(models.Model):
    """A one-time code of a catalog item, handed to exactly one redemption."""

    item = models.ForeignKey(CatalogItem, on_delete=models.PROTECT, related_name="codes")
    code = models.CharField(max_length=200)
    created_at = models.DateTimeField(default=timezone.now, editable=False)
    handed_out_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "code"], name="rewards_code_unique_per_item")]
        indexes = [models.Index(fields=["item", "id"], name="rewards_code_free", condition=Q(handed_out_at__isnull=True))]

    def __str__(self) -> str:
        return f"code of {self.item_id} ({'handed out' if self.handed_out_at else 'free'})"


class Redemption(models.Model):
    """Points spent: onto the member's Flash Card (sats at once) or on a catalog item."""

    class Kind(models.TextChoices):
        CARD = "card", "Sats on a Flash Card"
        CATALOG = "catalog", "Catalog item"

    public_id = models.CharField(max_length=32, unique=True, default=new_public_id, editable=False)
    member = models.ForeignKey(Member, on_delete=models.PROTECT, related_name="redemptions", db_index=False)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount_msat = models.BigIntegerField()
    card_id = models.CharField(max_length=32, blank=True, help_text="The Flash Card's public id.")
    item = models.ForeignKey(CatalogItem, null=True, blank=True, on_delete=models.PROTECT, related_name="redemptions")
    code = models.OneToOneField(CatalogCode, null=True, blank=True, on_delete=models.PROTECT, related_name="redemption")
    txn_id = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["created_at"], name="rewards_redemption_created"),
            models.Index(fields=["member", "created_at"], name="rewards_redemption_member"),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount_msat__gt=0), name="rewards_redemption_positive")]

    def __str__(self) -> str:
        return f"redemption {self.public_id} ({self.amount_msat // MSAT_PER_POINT} points, {self.kind})"
