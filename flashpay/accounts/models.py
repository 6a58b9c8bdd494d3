"""Users, stores, store membership with roles, and API keys."""
from decimal import Decimal

from django.contrib.auth.models import AbstractUser
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower

from flashpay.accounts import policies
from flashpay.ids import new_id


def new_store_id() -> str:
    # 32 random bytes in base58, shaped like BTCPay's store ids.
    return new_id(32)


class User(AbstractUser):
    """A person who logs in: an operator, a merchant's staff member or a cardholder."""

    class Meta(AbstractUser.Meta):
        constraints = [
            # Greenfield addresses users by id or e-mail, so an e-mail names at most one user.
            models.UniqueConstraint(
                Lower("email"), name="accounts_user_email_ci_unique", condition=~models.Q(email="")
            ),
        ]


class SpeedPolicy(models.TextChoices):
    HIGH = "HighSpeed"
    MEDIUM = "MediumSpeed"
    LOW_MEDIUM = "LowMediumSpeed"
    LOW = "LowSpeed"


class NetworkFeeMode(models.TextChoices):
    MULTIPLE_PAYMENTS_ONLY = "MultiplePaymentsOnly"
    ALWAYS = "Always"
    NEVER = "Never"


# BTCPay's StoreBlob.LightningDescriptionTemplate when the merchant set none.
DEFAULT_LIGHTNING_DESCRIPTION_TEMPLATE = "Paid to {StoreName} (Order ID: {OrderId})"


class Store(models.Model):
    """A merchant's store: Greenfield ``StoreData``; invoices and settings hang off it."""

    id = models.CharField(primary_key=True, max_length=64, default=new_store_id, editable=False)
    name = models.CharField(max_length=200)
    website = models.URLField(max_length=500, blank=True, default="")
    support_url = models.CharField(max_length=500, blank=True, default="")
    logo_url = models.CharField(max_length=500, blank=True, default="")
    css_url = models.CharField(max_length=500, blank=True, default="")
    payment_sound_url = models.CharField(max_length=500, blank=True, default="")
    brand_color = models.CharField(max_length=32, blank=True, default="")
    apply_brand_color_to_backend = models.BooleanField(default=False)
    default_currency = models.CharField(max_length=10, default="USD")
    additional_tracked_rates = models.JSONField(default=list, blank=True)
    # Checkout defaults, in seconds (days for the refund BOLT11 expiry), as Greenfield sends them.
    invoice_expiration = models.PositiveIntegerField(
        default=900, validators=[MinValueValidator(60), MaxValueValidator(2073600)]
    )
    refund_bolt11_expiration = models.PositiveIntegerField(
        default=30, validators=[MaxValueValidator(3650)]
    )
    display_expiration_timer = models.PositiveIntegerField(
        default=300, validators=[MinValueValidator(60), MaxValueValidator(2073600)]
    )
    monitoring_expiration = models.PositiveIntegerField(
        default=86400, validators=[MinValueValidator(600), MaxValueValidator(2073600)]
    )
    speed_policy = models.CharField(
        max_length=20, choices=SpeedPolicy.choices, default=SpeedPolicy.MEDIUM
    )
    # empty: DEFAULT_LIGHTNING_DESCRIPTION_TEMPLATE
    lightning_description_template = models.CharField(max_length=500, blank=True, default="")
    # Percent of the amount that may be missing for an invoice to count as paid.
    payment_tolerance = models.DecimalField(
        max_digits=5,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("100"))],
    )
    archived = models.BooleanField(default=False)
    anyone_can_create_invoice = models.BooleanField(default=False)
    # the store's ReceiptOptions as set (an option left null falls back to BTCPay's default, true)
    receipt = models.JSONField(blank=True, null=True)
    lightning_amount_in_satoshi = models.BooleanField(default=False)
    lightning_private_route_hints = models.BooleanField(default=False)
    on_chain_with_ln_invoice_fallback = models.BooleanField(default=False)
    redirect_automatically = models.BooleanField(default=False)
    show_recommended_fee = models.BooleanField(default=True)
    recommended_fee_block_target = models.PositiveIntegerField(default=1)
    default_lang = models.CharField(max_length=20, default="en")
    html_title = models.CharField(max_length=200, blank=True, default="")
    network_fee_mode = models.CharField(
        max_length=24, choices=NetworkFeeMode.choices, default=NetworkFeeMode.MULTIPLE_PAYMENTS_ONLY
    )
    payjoin_enabled = models.BooleanField(default=False)
    auto_detect_language = models.BooleanField(default=False)
    show_pay_in_wallet_button = models.BooleanField(default=True)
    show_store_header = models.BooleanField(default=True)
    celebrate_payment = models.BooleanField(default=True)
    play_sound_on_payment = models.BooleanField(default=False)
    lazy_payment_methods = models.BooleanField(default=False)
    default_payment_method = models.CharField(max_length=50, blank=True, default="")
    payment_method_criteria = models.JSONField(blank=True, null=True)
    # Greenfield's store rate configuration (invoices/apis/rates.py): the spread in percent, shared
    # by the primary and fallback sources as in BTCPay; a source id of invoices.rates ("" = the
    # server's order of sources); the fallback source, null while fallback rates are disabled.
    rate_spread = models.DecimalField(
        max_digits=7,
        decimal_places=4,
        default=Decimal("0"),
        validators=[MinValueValidator(Decimal("0")), MaxValueValidator(Decimal("99.9999"))],
    )
    rate_preferred_source = models.CharField(max_length=50, blank=True, default="")
    rate_fallback_source = models.CharField(max_length=50, blank=True, null=True, default=None)  # noqa: DJ001 (null: disabled)
    created_at = models.DateTimeField(auto_now_add=True)

    members = models.ManyToManyField(User, through="StoreMember", related_name="stores")

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"


class StoreRole(models.TextChoices):
    OWNER = policies.ROLE_OWNER
    MANAGER = policies.ROLE_MANAGER
    EMPLOYEE = policies.ROLE_EMPLOYEE
    GUEST = policies.ROLE_GUEST


class StoreMember(models.Model):
    """A user's role in a store; the role decides which store permissions the user has there."""

    store = models.ForeignKey(Store, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="store_memberships")
    role = models.CharField(max_length=20, choices=StoreRole.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["store", "user"], name="accounts_storemember_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} is {self.role} of {self.store_id}"


class APIKey(models.Model):
    """A Greenfield API key: only the SHA-256 of the secret is stored; the secret is shown once."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    label = models.CharField(max_length=200, blank=True, default="")
    # Hex SHA-256 of the secret; authentication looks the key up by this hash.
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    # Greenfield permission strings, e.g. "btcpay.store.canviewinvoices:<storeId>".
    permissions = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "API key"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.label or 'API key'} #{self.pk} of {self.user}"
