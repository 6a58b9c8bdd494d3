"""Writes of a store's payment setup: its on-chain wallet (BTC-CHAIN) and Lightning node (BTC-LN)."""
from __future__ import annotations

import json
import os
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from flashpay.accounts.models import Store
from flashpay.errors import FieldError, NotFound
from flashpay.payment_method_ids import payment_method_id_describe, payment_method_id_parse
from invoices.models import PaymentMethodId, StorePaymentMethod
from invoices.onchain.descriptors import DescriptorError, parse_store_wallet
from invoices.onchain.services import onchain_descriptor_register
from lightning.selectors import parse_connection_string, parse_pairs
from lightning.services import ConnectionStringError, server_node_client, store_node_client

INTERNAL_NODE = "Internal Node"
_NONCE_BYTES = 12


# ---------------------------------------------------------------------------- secrets at rest


def _key() -> bytes:
    # Derived from SECRET_KEY with its own label, so it is unrelated to other derived keys.
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"flashpay.invoices.lightning-connection"
    ).derive(settings.SECRET_KEY.encode())


def _seal(text: str, *, aad: str) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(_key()).encrypt(nonce, text.encode(), aad.encode())


def connection_string_open(*, method: StorePaymentMethod) -> str:
    """The merchant's own-node connection string, decrypted (never shown in responses or logs)."""
    blob = bytes(method.connection_string_sealed or b"")
    try:
        plain = AESGCM(_key()).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(method.store_id).encode())
    except (InvalidTag, ValueError):
        raise ConnectionStringError("The stored Lightning connection string cannot be decrypted") from None
    return plain.decode()


def store_lightning_backend(*, method: StorePaymentMethod):
    """The node a store's BTC-LN method uses: the server's own, or the merchant's by connection string."""
    if method.internal_node:
        return server_node_client()
    return store_node_client(connection_string=connection_string_open(method=method))


def _aad(store_id: str) -> str:
    return f"store:{store_id}:BTC-LN"


def connection_string_redacted(text: str) -> str:
    """The connection string without its secrets: type and server only."""
    pairs = parse_pairs(text)
    return f"type={pairs['type']};server={pairs['server']}"


# ---------------------------------------------------------------------------- configs


@dataclass(frozen=True)
class OnchainConfig:
    derivation_scheme: str
    label: str
    account_key_path: str


@dataclass(frozen=True)
class LightningConfig:
    internal: bool
    connection_string: str | None


def _onchain_config(config) -> OnchainConfig:
    if isinstance(config, str):
        return OnchainConfig(derivation_scheme=config, label="", account_key_path="")
    if not isinstance(config, dict):
        raise FieldError("config", "Must be a derivation scheme string or an object with derivationScheme")
    unknown = sorted(set(config) - {"derivationScheme", "label", "accountKeyPath"})
    if unknown:
        raise FieldError(f"config.{unknown[0]}", "Unknown property")
    scheme = config.get("derivationScheme")
    if not isinstance(scheme, str) or not scheme.strip():
        raise FieldError("config.derivationScheme", "A derivation scheme (xpub or output descriptor) is required")
    label, key_path = config.get("label") or "", config.get("accountKeyPath") or ""
    if not isinstance(label, str) or len(label) > 200:
        raise FieldError("config.label", "Must be a string of at most 200 characters")
    if not isinstance(key_path, str) or len(key_path) > 200:
        raise FieldError("config.accountKeyPath", "Must be a string of at most 200 characters")
    return OnchainConfig(derivation_scheme=scheme.strip(), label=label, account_key_path=key_path)


def _lightning_config(config) -> LightningConfig:
    if isinstance(config, dict):
        unknown = sorted(set(config) - {"connectionString"})
        if unknown:
            raise FieldError(f"config.{unknown[0]}", "Unknown property")
        text, path = config.get("connectionString"), "config.connectionString"
    else:
        text, path = config, "config"
    if not isinstance(text, str) or not text.strip():
        raise FieldError(path, f"A Lightning connection string or '{INTERNAL_NODE}' is required")
    text = text.strip()
    if text.lower() == INTERNAL_NODE.lower():
        return LightningConfig(internal=True, connection_string=None)
    try:
        parse_connection_string(text)
    except ConnectionStringError as exc:
        raise FieldError(path, exc.message) from None
    return LightningConfig(internal=False, connection_string=text)


# ---------------------------------------------------------------------------- services


LNURL_OPTIONS = ("useBech32Scheme", "lud12Enabled", "lud21Enabled")


def _lnurl_config(config) -> dict:
    if config is None:
        return {}
    if isinstance(config, str):  # the admin form's text box
        try:
            config = json.loads(config)
        except ValueError:
            raise FieldError("config", 'Must be a JSON object, e.g. {"useBech32Scheme": true}') from None
    if not isinstance(config, dict):
        raise FieldError("config", "Must be an object with useBech32Scheme, lud12Enabled")
    unknown = sorted(set(config) - set(LNURL_OPTIONS))
    if unknown:
        raise FieldError(f"config.{unknown[0]}", "Unknown property")
    for key, value in config.items():
        if value is not None and not isinstance(value, bool):
            raise FieldError(f"config.{key}", "Must be true or false")
    return {key: bool(config.get(key)) for key in LNURL_OPTIONS}


def store_payment_method_config_validate(*, payment_method_id: str, config) -> None:
    """Raise FieldError unless ``config`` is usable for the method (writes nothing; for forms)."""
    method_id = payment_method_id_parse(payment_method_id)
    if method_id == PaymentMethodId.BTC_CHAIN:
        onchain = _onchain_config(config)
        try:
            parse_store_wallet(onchain.derivation_scheme, network=settings.BITCOIN_NETWORK)
        except DescriptorError as exc:
            raise FieldError("config" if isinstance(config, str) else "config.derivationScheme", exc.message) from None
    elif method_id == PaymentMethodId.BTC_LN:
        _lightning_config(config)
    elif method_id == PaymentMethodId.BTC_LNURL:
        _lnurl_config(config)
    else:
        raise FieldError("paymentMethodId", f"Use {payment_method_id_describe()}")


def store_payment_method_update(
    *, store: Store, payment_method_id: str, enabled: bool | None, config
) -> StorePaymentMethod:
    """Greenfield PUT: set a payment method's config and/or enabled flag (null leaves it unchanged).

    A new method needs a config. The config is validated before anything is written: a wallet of
    another network, a private key, or a malformed connection string is a 400 and changes nothing.
    """
    method_id = payment_method_id_parse(payment_method_id)
    if method_id is None:
        raise NotFound(
            f"Unknown payment method {payment_method_id[:40]!r}: use {payment_method_id_describe()}",
            code="paymentmethod-not-found",
        )
    if enabled is not None and not isinstance(enabled, bool):
        raise FieldError("enabled", "Must be true, false or null")
    existing = StorePaymentMethod.objects.filter(store=store, payment_method_id=method_id).first()
    if config is None and existing is None and method_id != PaymentMethodId.BTC_LNURL:
        raise FieldError("config", "A new payment method needs a config")
    lnurl = None
    if method_id == PaymentMethodId.BTC_LNURL:
        # LNURL-pay mints its BOLT11s on the store's Lightning node (as in BTCPay)
        if not StorePaymentMethod.objects.filter(store=store, payment_method_id=PaymentMethodId.BTC_LN).exists():
            raise FieldError("paymentMethodId", "Set up BTC-LN first: LNURL payments use the store's Lightning node")
        if config is not None or existing is None:
            lnurl = _lnurl_config(config)

    descriptor = None
    onchain = lightning = None
    if config is not None and method_id == PaymentMethodId.BTC_CHAIN:
        onchain = _onchain_config(config)
        try:
            descriptor = onchain_descriptor_register(text=onchain.derivation_scheme, network=settings.BITCOIN_NETWORK)
        except DescriptorError as exc:
            path = "config" if isinstance(config, str) else "config.derivationScheme"
            raise FieldError(path, exc.message) from None
    elif config is not None and method_id == PaymentMethodId.BTC_LN:
        lightning = _lightning_config(config)

    with transaction.atomic():
        method = (
            StorePaymentMethod.objects.select_for_update(no_key=True, of=("self",))
            .filter(store=store, payment_method_id=method_id)
            .first()
        ) or StorePaymentMethod(store=store, payment_method_id=method_id)
        if enabled is not None:
            method.enabled = enabled
        if onchain is not None:
            method.onchain_descriptor = descriptor
            method.derivation_scheme = onchain.derivation_scheme
            method.label = onchain.label
            method.account_key_path = onchain.account_key_path
        if lnurl is not None:
            method.lnurl_options = lnurl
        if lightning is not None:
            method.internal_node = lightning.internal
            if lightning.internal:
                method.connection_string_sealed = None
                method.connection_type = ""
            else:
                method.connection_string_sealed = _seal(lightning.connection_string, aad=_aad(store.pk))
                method.connection_type = parse_pairs(lightning.connection_string)["type"]
        method.updated_at = timezone.now()
        method.full_clean(validate_unique=False)
        method.save()
    return method


def store_payment_method_delete(*, store: Store, payment_method_id: str) -> None:
    """Greenfield DELETE: remove the method; existing invoices keep their addresses and BOLT11s."""
    method_id = payment_method_id_parse(payment_method_id)
    deleted = 0
    if method_id is not None:
        deleted, _ = StorePaymentMethod.objects.filter(store=store, payment_method_id=method_id).delete()
    if not deleted:
        raise NotFound("This payment method is not set up for the store", code="paymentmethod-not-found")
