"""Flash Card records: issuer keys, cards and their audit trail, programming links, tap log."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from flashpay.ids import new_id

MSAT_PER_SAT = 1000


class IssuerKey(models.Model):
    """A Bolt Card IssuerKey, stored only encrypted (see cards/keys.py); one is active at a time.

    New and re-programmed cards use the active key; retired keys still verify the cards that
    were programmed with them until those cards are re-programmed.
    """

    ref = models.CharField(max_length=32, unique=True, default=new_id, editable=False)
    label = models.CharField(max_length=100, blank=True)
    encrypted_key = models.BinaryField(editable=False)
    is_active = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True),
                name="cards_one_active_issuer_key",
            )
        ]

    def __str__(self) -> str:
        return f"{self.label or 'issuer key'} ({self.ref}{', active' if self.is_active else ''})"


class Card(models.Model):
    """One Flash Card (an NTAG 424 DNA chip once programmed)."""

    class Status(models.TextChoices):
        INACTIVE = "inactive", "Inactive"
        ACTIVE = "active", "Active"
        FROZEN = "frozen", "Frozen"
        CANCELED = "canceled", "Canceled"

    public_id = models.CharField(max_length=32, unique=True, default=new_id, editable=False)
    name = models.CharField(max_length=100)
    holder = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="cards",
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INACTIVE)
    per_transaction_limit_msat = models.BigIntegerField(default=100_000 * MSAT_PER_SAT)
    daily_limit_msat = models.BigIntegerField(default=500_000 * MSAT_PER_SAT)
    issuer_key = models.ForeignKey(IssuerKey, on_delete=models.PROTECT, related_name="cards")
    key_version = models.PositiveIntegerField(default=0)
    # Set by the programming request; hex, upper case. Kept (unlike the Bolt Card reference
    # server) so operators can find a card by the UID printed by their tools. NULL, not "",
    # means "not programmed yet", so the unique constraints below ignore unprogrammed cards.
    uid = models.CharField(max_length=14, null=True, blank=True)  # noqa: DJ001
    # Bolt Card ID = PRF(IssuerKey, 2d003f7b | UID), hex: what a tap is looked up by.
    chip_id = models.CharField(max_length=32, null=True, blank=True, editable=False)  # noqa: DJ001
    programmed_at = models.DateTimeField(null=True, blank=True)
    wiped_at = models.DateTimeField(null=True, blank=True)
    last_counter = models.PositiveIntegerField(default=0)
    # SHA-256 of the activation code printed with the card; the code itself is shown once.
    activation_code_hash = models.CharField(max_length=64, unique=True, editable=False)
    activated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["issuer_key", "chip_id"],
                condition=Q(chip_id__isnull=False) & ~Q(status="canceled"),
                name="cards_one_live_card_per_chip",
            ),
            models.UniqueConstraint(
                fields=["uid"],
                condition=Q(uid__isnull=False) & ~Q(status="canceled"),
                name="cards_one_live_card_per_uid",
            ),
            models.CheckConstraint(
                condition=Q(per_transaction_limit_msat__gte=0) & Q(daily_limit_msat__gte=0),
                name="cards_limits_not_negative",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["inactive", "active", "frozen", "canceled"]),
                name="cards_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["chip_id"]), models.Index(fields=["uid"])]

    def __str__(self) -> str:
        return f"{self.name} ({self.public_id})"


class CardEvent(models.Model):
    """Append-only audit trail of a card: status transitions, programming and wipes."""

    class Kind(models.TextChoices):
        ISSUED = "issued", "Issued"
        STATUS = "status", "Status change"
        PROGRAMMED = "programmed", "Programmed"
        WIPED = "wiped", "Wiped"
        LINK_CREATED = "link_created", "Link created"
        UPDATED = "updated", "Updated"

    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]

    def __str__(self) -> str:
        return f"{self.card_id} {self.kind} {self.from_status}->{self.to_status}"


class ProgrammingLink(models.Model):
    """A one-time link the Bolt Card NFC Programmer app fetches keys from (program or wipe)."""

    class Kind(models.TextChoices):
        PROGRAM = "program", "Program"
        WIPE = "wipe", "Wipe"

    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="programming_links")
    kind = models.CharField(max_length=8, choices=Kind.choices)
    # SHA-256 hex of the token; the token itself is shown once and never stored.
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    used_ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.kind} link for card {self.card_id}"


class TapLog(models.Model):
    """One tap as the tap endpoint saw it, accepted or not (for support and fraud review)."""

    class Outcome(models.TextChoices):
        ACCEPTED = "accepted", "Accepted"
        REJECTED = "rejected", "Rejected"

    card = models.ForeignKey(
        Card, null=True, blank=True, on_delete=models.PROTECT, related_name="taps"
    )
    uid = models.CharField(max_length=14, blank=True)
    counter = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    reason = models.CharField(max_length=200, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["card", "created_at"])]

    def __str__(self) -> str:
        return f"tap {self.outcome} card={self.card_id} ctr={self.counter}"


class WithdrawRequest(models.Model):
    """The LNURL-withdraw offer one accepted tap made: a single-use ``k1`` that expires quickly.

    Only the SHA-256 of ``k1`` is stored: whoever holds a live k1 can spend from the card.
    """

    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="withdraw_requests")
    k1_hash = models.CharField(max_length=64, unique=True, editable=False)
    counter = models.PositiveIntegerField()
    max_withdrawable_msat = models.BigIntegerField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(max_withdrawable_msat__gte=0), name="cards_withdraw_max_not_negative"
            )
        ]

    def __str__(self) -> str:
        return f"withdraw card={self.card_id} ctr={self.counter}"


class CardPayment(models.Model):
    """One payment a card made (LNURL-withdraw callback), keyed by the invoice's payment hash.

    ``internal``: the invoice was minted by FlashPay's own node and was settled inside the ledger.
    ``external``: paid through the Lightning node; the ledger hold waits for the node's answer.
    """

    class Kind(models.TextChoices):
        INTERNAL = "internal", "Internal (FlashPay merchant)"
        EXTERNAL = "external", "External (Lightning)"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    public_id = models.CharField(max_length=32, unique=True, default=new_id, editable=False)
    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="payments")
    withdraw_request = models.OneToOneField(
        WithdrawRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="payment"
    )
    # The natural idempotency key: one card payment per Lightning invoice, ever.
    payment_hash = models.CharField(max_length=64, unique=True)
    bolt11 = models.TextField()
    kind = models.CharField(max_length=16, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    amount_msat = models.BigIntegerField()
    fee_limit_msat = models.BigIntegerField(default=0)
    fee_msat = models.BigIntegerField(default=0)
    # Ledger transaction ids: the hold while pending, then the final posting (if any).
    hold_transaction_id = models.BigIntegerField(null=True, blank=True)
    # The FlashPay store that was paid (internal payments whose store is known), for settlement.
    merchant_store_id = models.CharField(max_length=64, blank=True, db_index=True)
    merchant_name = models.CharField(max_length=200, blank=True)
    description = models.CharField(max_length=639, blank=True)
    failure_reason = models.CharField(max_length=500, blank=True)
    preimage = models.CharField(max_length=64, blank=True)
    settlement_batch = models.ForeignKey(
        "SettlementBatch", null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    # Internal payments: the node still holds the invoice open until we cancel it there (after
    # commit, retried by cards.tasks); past its expiry the node refuses it on its own.
    node_invoice_expires_at = models.DateTimeField(null=True, blank=True)
    node_invoice_canceled_at = models.DateTimeField(null=True, blank=True)
    node_cancel_error = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount_msat__gt=0), name="cards_payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(fee_msat__gte=0) & Q(fee_limit_msat__gte=0),
                name="cards_payment_fees_not_negative",
            ),
        ]
        indexes = [
            models.Index(fields=["card", "created_at"]),
            models.Index(fields=["status", "created_at"]),
            models.Index(
                fields=["node_invoice_expires_at"],
                condition=Q(kind="internal", node_invoice_canceled_at__isnull=True),
                name="cards_payment_node_cancel_due",
            ),
        ]

    def __str__(self) -> str:
        return f"card payment {self.public_id} {self.kind} {self.status}"


class CardTopUp(models.Model):
    """A card top-up: a Greenfield invoice of the program store (FLASH_PROGRAM_STORE_ID) whose
    settled payments credit the card, each once (see cards/services/topups.py)."""

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        CREDITED = "credited", "Credited"
        # Everything it credited was taken back (its payments left the chain).
        REVERSED = "reversed", "Reversed"

    public_id = models.CharField(max_length=32, unique=True, default=new_id, editable=False)
    card = models.ForeignKey(Card, on_delete=models.PROTECT, related_name="topups")
    # The invoices app's invoice id (another app's row: referenced by id, as stores are).
    invoice_id = models.CharField(max_length=64, unique=True)
    store_id = models.CharField(max_length=64)
    # What the invoice asks for in msat; null: any amount (a Greenfield TopUp invoice).
    amount_msat = models.BigIntegerField(null=True, blank=True)
    # Sum of the settled payments credited to the card now (a payment taken back leaves it).
    credited_msat = models.BigIntegerField(default=0)
    # Sum of the payments seen but not settled yet: held incoming on the card, not spendable.
    pending_msat = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    expires_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)
    # When the first payment was credited.
    credited_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(credited_msat__gte=0) & (Q(amount_msat__isnull=True) | Q(amount_msat__gt=0)),
                name="cards_topup_amounts_sane",
            ),
            models.CheckConstraint(condition=Q(pending_msat__gte=0), name="cards_topup_pending_not_negative"),
        ]

    def __str__(self) -> str:
        return f"top-up {self.public_id} {self.status}"


class CardTopUpPayment(models.Model):
    """One payment of a top-up invoice and where its money stands on the card.

    It follows the invoice payment's status (cards/services/topups.py): Processing (seen, not
    settled per the program store's speed policy) -> ``pending``, a ledger hold that shows as
    incoming on the card but cannot be spent; Settled -> ``credited``, posted to the card;
    Invalid (left the chain) or no longer settled -> the credit is taken back (``undone``, or
    ``pending`` again while the payment waits in the mempool). Every move is a ledger
    transaction keyed by (invoice, payment, ``moves``), so each happens once.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending (held, not spendable)"
        CREDITED = "credited", "Credited"
        UNDONE = "undone", "Undone (nothing on the card)"

    topup = models.ForeignKey(CardTopUp, on_delete=models.PROTECT, related_name="payments")
    # The invoices app's payment id: txid-vout on-chain, the payment hash on Lightning.
    payment_id = models.CharField(max_length=140)
    amount_msat = models.BigIntegerField()
    state = models.CharField(max_length=16, choices=State.choices, default=State.UNDONE)
    # Ledger transactions made for this payment so far (names the next one's key).
    moves = models.PositiveIntegerField(default=0)
    # The ledger hold while pending, the posted credit while credited (ledger transaction ids).
    hold_transaction_id = models.BigIntegerField(null=True, blank=True)
    credit_transaction_id = models.BigIntegerField(null=True, blank=True)
    # Taken back so far: from the card, and (what the card had already spent) into what its
    # holder owes (the card's receivable account).
    reversed_msat = models.BigIntegerField(default=0)
    owed_msat = models.BigIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["topup", "payment_id"], name="cards_topup_payment_once"),
            models.CheckConstraint(
                condition=Q(amount_msat__gt=0) & Q(reversed_msat__gte=0) & Q(owed_msat__gte=0),
                name="cards_topup_payment_amounts_sane",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.state}"


class AppToken(models.Model):
    """A Flash app session token for a cardholder (``Authorization: Bearer <token>``).

    Only the SHA-256 of the token is stored; the token is shown once when it is issued.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="app_tokens")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    label = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"app token of {self.user_id}"


class MerchantSettlementSchedule(models.Model):
    """How and when one FlashPay store is paid what it earned from card payments."""

    class DestinationType(models.TextChoices):
        LIGHTNING_ADDRESS = "lightning_address", "Lightning address"
        LNURL_PAY = "lnurlp", "LNURL-pay"
        ONCHAIN = "onchain", "On-chain address"

    store_id = models.CharField(max_length=64, unique=True)
    interval_days = models.PositiveIntegerField(default=1)
    minimum_msat = models.BigIntegerField(default=0)
    # The program's settlement fee, parts per million of the batch's card payments.
    fee_ppm = models.PositiveIntegerField(default=0)
    destination_type = models.CharField(max_length=32, choices=DestinationType.choices)
    destination = models.CharField(max_length=500)
    enabled = models.BooleanField(default=True)
    last_batch_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(interval_days__gte=1) & Q(minimum_msat__gte=0) & Q(fee_ppm__lte=1_000_000),
                name="cards_settlement_schedule_sane",
            )
        ]

    def __str__(self) -> str:
        return f"settlement of store {self.store_id} every {self.interval_days} d"


class SettlementBatch(models.Model):
    """One payout to a merchant of the card payments it received since its previous batch."""

    class Status(models.TextChoices):
        OPEN = "open", "Open (payout reserved)"
        PAYING = "paying", "Paying"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        AWAITING_MANUAL = "awaiting_manual", "Awaiting on-chain payout"

    public_id = models.CharField(max_length=32, unique=True, default=new_id, editable=False)
    store_id = models.CharField(max_length=64, db_index=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    gross_msat = models.BigIntegerField()
    fee_ppm = models.PositiveIntegerField(default=0)
    fee_msat = models.BigIntegerField()
    net_msat = models.BigIntegerField()
    destination_type = models.CharField(max_length=32)
    destination = models.CharField(max_length=500)
    hold_transaction_id = models.BigIntegerField(null=True, blank=True)
    payment_hash = models.CharField(max_length=64, blank=True)
    # On-chain payouts from the hot wallet: the transaction, when the send was attempted, and the
    # chain tip then (where a reconciliation looks for a send whose answer was lost).
    txid = models.CharField(max_length=64, blank=True)
    payout_started_at = models.DateTimeField(null=True, blank=True)
    payout_since_block = models.CharField(max_length=64, blank=True)
    # Lightning routing fee, or the on-chain network fee (the program's cost).
    routing_fee_msat = models.BigIntegerField(default=0)
    failure_reason = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(gross_msat__gte=0) & Q(fee_msat__gte=0) & Q(net_msat__gte=0),
                name="cards_settlement_amounts_not_negative",
            )
        ]

    def __str__(self) -> str:
        return f"settlement {self.public_id} store={self.store_id} {self.status}"
