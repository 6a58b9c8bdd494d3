"""Models of the invoices app: on-chain wallets (descriptors, watched addresses), payments and the chain cursor."""
from django.db import models
from django.db.models import Q
from django.utils import timezone

# The ids and their parser live in the kernel (a store names them too); re-exported for this app.
from flashpay.payment_method_ids import PaymentMethodId  # noqa: F401


class OnchainDescriptor(models.Model):
    """A store's watch-only wallet as a canonical output descriptor (receive branch, with checksum).

    ``next_index`` is the next receive index to hand out; ``imported_until`` is the last index the
    node's watch-only wallet is known to derive (importdescriptors range end), -1 before any import.
    """

    descriptor = models.CharField(max_length=2000, unique=True)
    network = models.CharField(max_length=16)
    script_type = models.CharField(max_length=32)
    next_index = models.PositiveIntegerField(default=0)
    imported_until = models.IntegerField(default=-1)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(imported_until__gte=-1), name="onchain_descriptor_imported_until_gte_m1"),
        ]

    def __str__(self) -> str:
        return f"{self.script_type} {self.descriptor[:40]}..."


class WatchedAddress(models.Model):
    """An address whose incoming payments we record: derived from a descriptor, or imported alone."""

    address = models.CharField(max_length=100)
    descriptor = models.ForeignKey(
        OnchainDescriptor, null=True, blank=True, on_delete=models.PROTECT, related_name="addresses",
        db_index=False,  # onchain_address_unique_index starts with it
    )
    derivation_index = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["descriptor", "derivation_index"], name="onchain_address_unique_index"),
            # a constraint rather than unique=True: no second, LIKE-pattern index to update per invoice
            models.UniqueConstraint(fields=["address"], name="onchain_watched_address_unique"),
            # an index exactly when derived from a descriptor
            models.CheckConstraint(
                condition=Q(descriptor__isnull=True, derivation_index__isnull=True)
                | Q(descriptor__isnull=False, derivation_index__isnull=False),
                name="onchain_address_index_iff_descriptor",
            ),
        ]

    def __str__(self) -> str:
        return self.address


class OnchainPayment(models.Model):
    """One output (txid:vout) paying a watched address, as the node reported it.

    ``revision`` counts status changes; it makes each transition's event key unique, so a re-run
    of the same sync step emits nothing twice while a later, real change (a reorg) still does.
    """

    class Status(models.TextChoices):
        SEEN = "seen", "Seen (unconfirmed)"
        CONFIRMED = "confirmed", "Confirmed"
        REMOVED = "removed", "Removed (reorged out or double-spent)"

    txid = models.CharField(max_length=64)
    vout = models.PositiveIntegerField()
    address = models.ForeignKey(WatchedAddress, on_delete=models.PROTECT, related_name="payments")
    amount_msat = models.BigIntegerField()
    status = models.CharField(max_length=10, choices=Status.choices)
    block_hash = models.CharField(max_length=64, blank=True, default="")
    block_height = models.IntegerField(null=True, blank=True)
    revision = models.PositiveIntegerField(default=0)
    first_seen_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["txid", "vout"], name="onchain_payment_unique_outpoint"),
            models.CheckConstraint(condition=Q(amount_msat__gt=0), name="onchain_payment_amount_positive"),
            models.CheckConstraint(
                condition=(Q(status="confirmed", block_height__isnull=False) & ~Q(block_hash=""))
                | (~Q(status="confirmed") & Q(block_hash="", block_height__isnull=True)),
                name="onchain_payment_block_iff_confirmed",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.txid}:{self.vout} {self.status}"


class ChainCursor(models.Model):
    """The last block the watcher fully processed for one node wallet (listsinceblock resumes here)."""

    wallet = models.CharField(max_length=100, unique=True)
    block_hash = models.CharField(max_length=64)
    block_height = models.IntegerField()
    updated_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"{self.wallet} @ {self.block_height} {self.block_hash}"


# =============================================================================================
# Invoices: store payment methods, invoices, their payment prompts, payments and audit events.
# (Owned by the invoices helper; the on-chain models above belong to the on-chain side.)
# =============================================================================================




class StorePaymentMethod(models.Model):
    """A store's setup of one payment method: its on-chain wallet or its Lightning node.

    BTC-CHAIN keeps the merchant's watch-only descriptor (``onchain_descriptor``) and the text the
    merchant sent (``derivation_scheme``). BTC-LN is either the server's node (``internal_node``;
    the merchant's balance lives in the ledger) or the merchant's own node, whose connection string
    holds secrets (a macaroon) and is stored only encrypted (``connection_string_sealed``).
    """

    store = models.ForeignKey("accounts.Store", on_delete=models.CASCADE, related_name="payment_methods")
    payment_method_id = models.CharField(max_length=20, choices=PaymentMethodId.choices)
    enabled = models.BooleanField(default=True)
    onchain_descriptor = models.ForeignKey(
        OnchainDescriptor, null=True, blank=True, on_delete=models.PROTECT, related_name="store_methods"
    )
    derivation_scheme = models.CharField(max_length=2000, blank=True, default="")
    label = models.CharField(max_length=200, blank=True, default="")
    account_key_path = models.CharField(max_length=200, blank=True, default="")
    internal_node = models.BooleanField(default=False)
    connection_string_sealed = models.BinaryField(null=True, blank=True, editable=False)
    connection_type = models.CharField(max_length=20, blank=True, default="")
    # BTC-LNURL options as Greenfield names them (useBech32Scheme, lud12Enabled)
    lnurl_options = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["store_id", "payment_method_id"]
        constraints = [
            models.UniqueConstraint(fields=["store", "payment_method_id"], name="invoices_store_pm_unique"),
            models.CheckConstraint(
                condition=~Q(payment_method_id="BTC-CHAIN") | Q(onchain_descriptor__isnull=False),
                name="invoices_store_pm_chain_has_descriptor",
            ),
            models.CheckConstraint(
                condition=~Q(payment_method_id="BTC-LN")
                | Q(internal_node=True, connection_string_sealed__isnull=True)
                | Q(internal_node=False, connection_string_sealed__isnull=False),
                name="invoices_store_pm_ln_one_node",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_method_id} of {self.store_id}"


class InvoiceStatus(models.TextChoices):
    NEW = "New"
    PROCESSING = "Processing"
    SETTLED = "Settled"
    EXPIRED = "Expired"
    INVALID = "Invalid"


class InvoiceAdditionalStatus(models.TextChoices):
    NONE = "None"
    PAID_PARTIAL = "PaidPartial"
    PAID_OVER = "PaidOver"
    PAID_LATE = "PaidLate"
    MARKED = "Marked"
    INVALID = "Invalid"


class InvoiceType(models.TextChoices):
    STANDARD = "Standard"
    TOP_UP = "TopUp"


def new_invoice_id() -> str:
    from flashpay.ids import new_id

    return new_id(16)


class Invoice(models.Model):
    """A Greenfield invoice. Amounts due are locked in msat at creation (rate locked then).

    ``amount`` / ``currency`` are what the merchant asked for; ``amount_msat`` is what is due in
    bitcoin (null for a TopUp invoice, which takes any amount). ``checkout`` holds the resolved
    checkout options as Greenfield shows them.
    """

    id = models.CharField(primary_key=True, max_length=40, default=new_invoice_id, editable=False)
    # indexed by invoices_store_created / invoices_store_order, which start with it
    store = models.ForeignKey("accounts.Store", on_delete=models.PROTECT, related_name="invoices", db_index=False)
    type = models.CharField(max_length=10, choices=InvoiceType.choices, default=InvoiceType.STANDARD)
    amount = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    currency = models.CharField(max_length=10)
    rate = models.DecimalField(max_digits=30, decimal_places=12, null=True, blank=True)
    amount_msat = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=12, choices=InvoiceStatus.choices, default=InvoiceStatus.NEW)
    additional_status = models.CharField(
        max_length=12, choices=InvoiceAdditionalStatus.choices, default=InvoiceAdditionalStatus.NONE
    )
    metadata = models.JSONField(default=dict, blank=True)
    order_id = models.CharField(max_length=500, blank=True, default="")
    checkout = models.JSONField(default=dict, blank=True)
    receipt = models.JSONField(default=dict, blank=True)
    speed_policy = models.CharField(max_length=20)
    payment_tolerance = models.DecimalField(max_digits=5, decimal_places=2, default=0)
    additional_search_terms = models.JSONField(default=list, blank=True)
    search_text = models.TextField(blank=True, default="")
    archived = models.BooleanField(default=False)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField()
    monitoring_expires_at = models.DateTimeField()
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["store", "-created_at"], name="invoices_store_created"),
            # Greenfield's orderId filter (always within a store)
            models.Index(fields=["store", "order_id"], name="invoices_store_order"),
            # the expiry task's scans
            models.Index(fields=["status", "expires_at"], name="invoices_status_expires"),
            models.Index(fields=["status", "monitoring_expires_at"], name="invoices_status_monitoring"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__isnull=True) | Q(amount__gte=0), name="invoices_amount_gte_0"),
            models.CheckConstraint(
                condition=Q(amount_msat__isnull=True) | Q(amount_msat__gte=0), name="invoices_amount_msat_gte_0"
            ),
            models.CheckConstraint(
                condition=Q(type="TopUp", amount_msat__isnull=True) | Q(type="Standard", amount_msat__isnull=False),
                name="invoices_amount_iff_standard",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.id} {self.status}"


class InvoicePaymentPrompt(models.Model):
    """One way to pay an invoice: an on-chain address or a BOLT11 invoice (matched by payment hash).

    A BOLT11 cannot change its amount, so after a partial payment the BTC-LN prompt is replaced by
    one for the rest (invoices/services/remainder.py): the old row stays, ``superseded_at`` set,
    because a payment to its payment hash still counts; each method has one current prompt.
    """

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="prompts", db_index=False)
    payment_method_id = models.CharField(max_length=20, choices=PaymentMethodId.choices)
    destination = models.TextField()
    address = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001 (unique; NULL for Lightning)
    payment_hash = models.CharField(max_length=64, null=True, blank=True)  # noqa: DJ001 (unique; NULL on-chain)
    key_path = models.CharField(max_length=50, blank=True, default="")
    # Lightning on the server's node: settlements credit the merchant's ledger account.
    internal_node = models.BooleanField(default=False)
    # BTC-LN: the msat this BOLT11 asks for. Null on the prompts invoice_create mints, which ask
    # for the invoice's amount (any amount for a top-up).
    amount_msat = models.BigIntegerField(null=True, blank=True)
    # Replaced by a newer prompt of the same method (a BOLT11 for what was still due).
    superseded_at = models.DateTimeField(null=True, blank=True)
    # A superseded BOLT11 the node can no longer take: it canceled it, or had been paid first.
    node_canceled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        # Plain indexes and constraints, not db_index/unique=True: those add a LIKE-pattern index
        # per text column on PostgreSQL, each one more index to update on every invoice created.
        indexes = [models.Index(fields=["invoice"], name="invoices_prompt_invoice")]
        constraints = [
            models.UniqueConstraint(fields=["address"], name="invoices_prompt_address_unique"),
            models.UniqueConstraint(fields=["payment_hash"], name="invoices_prompt_payment_hash_unique"),
            models.UniqueConstraint(
                fields=["invoice", "payment_method_id"],
                condition=Q(superseded_at__isnull=True),
                name="invoices_prompt_unique_current_method",
            ),
            models.CheckConstraint(
                condition=Q(amount_msat__isnull=True) | Q(amount_msat__gt=0), name="invoices_prompt_amount_positive"
            ),
            models.CheckConstraint(
                condition=Q(payment_method_id="BTC-CHAIN", address__isnull=False)
                | Q(payment_method_id="BTC-LN", payment_hash__isnull=False)
                # LNURL-pay: the BOLT11s are minted per callback (InvoiceLnurlInvoice)
                | Q(payment_method_id="BTC-LNURL", address__isnull=True, payment_hash__isnull=True),
                name="invoices_prompt_has_match_key",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.payment_method_id} for {self.invoice_id}"


class InvoiceLnurlInvoice(models.Model):
    """A BOLT11 minted for an invoice's LNURL-pay callback (LUD-06); its settlement is matched by payment hash."""

    prompt = models.ForeignKey(InvoicePaymentPrompt, on_delete=models.CASCADE, related_name="lnurl_invoices")
    payment_hash = models.CharField(max_length=64, unique=True)
    bolt11 = models.TextField()
    amount_msat = models.BigIntegerField()
    comment = models.CharField(max_length=500, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_msat__gt=0), name="invoices_lnurl_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"LNURL {self.payment_hash[:12]}… for prompt {self.prompt_id}"


class InvoicePaymentStatus(models.TextChoices):
    PROCESSING = "Processing"
    SETTLED = "Settled"
    INVALID = "Invalid"


class InvoicePayment(models.Model):
    """A payment to an invoice's prompt; ``payment_id`` is txid-vout on-chain, the payment hash on Lightning."""

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    prompt = models.ForeignKey(InvoicePaymentPrompt, on_delete=models.PROTECT, related_name="payments")
    payment_method_id = models.CharField(max_length=20, choices=PaymentMethodId.choices)
    payment_id = models.CharField(max_length=140, unique=True)
    amount_msat = models.BigIntegerField()
    status = models.CharField(max_length=12, choices=InvoicePaymentStatus.choices)
    block_height = models.IntegerField(null=True, blank=True)
    after_expiration = models.BooleanField(default=False)
    received_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    # How many times the payment lost its standing (a settled payment unconfirmed or removed by a
    # reorg, a payment removed from the chain): names each InvoicePaymentUndone event and each
    # later InvoicePaymentSettled, so a payment that comes back settles (and is announced) again.
    undone_count = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount_msat__gt=0), name="invoices_payment_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.payment_id} {self.status}"


class InvoiceEvent(models.Model):
    """The audit trail of an invoice: one row per status transition (who, when, from, to, why)."""

    invoice = models.ForeignKey(Invoice, on_delete=models.CASCADE, related_name="events", db_index=False)
    from_status = models.CharField(max_length=12, blank=True, default="")
    from_additional_status = models.CharField(max_length=12, blank=True, default="")
    to_status = models.CharField(max_length=12)
    to_additional_status = models.CharField(max_length=12)
    actor = models.CharField(max_length=200)
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["invoice"], name="invoices_event_invoice")]  # no LIKE twin

    def __str__(self) -> str:
        return f"{self.invoice_id}: {self.from_status}/{self.from_additional_status} -> {self.to_status}/{self.to_additional_status}"


from invoices.webhooks.models import Webhook, WebhookDelivery, WebhookDeliveryAttempt  # noqa: E402, F401, I001
from invoices.emails.models import EmailMessage, EmailRule  # noqa: E402, F401, I001
