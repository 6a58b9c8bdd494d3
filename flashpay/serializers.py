"""Serializer helpers shared by the APIs."""
from __future__ import annotations

import threading

from rest_framework import serializers

_reused = threading.local()


class ReusedFieldsMixin:
    """Build a serializer class's fields once per thread instead of once per instance.

    DRF deep-copies every declared field (and rebuilds nested serializers) for each serializer
    instance; on the invoice-creation path that was a tenth of the web process's CPU. A bound
    field keeps no per-request state (values and errors live on the serializer, not the field),
    so each thread keeps one set per class and binds it to the instance in use. Use it only for
    serializers that are not nested inside another instance of their own class and that do not
    read request context in their fields; the set belongs to one instance at a time per thread.
    """

    def get_fields(self):
        cache = getattr(_reused, "fields", None)
        if cache is None:
            cache = _reused.fields = {}
        cached = cache.get(type(self))
        if cached is None:
            fields = super().get_fields()
            # Fields that take their source from their name get it at bind time (Field.bind).
            implicit = [field for field in fields.values() if field.source is None]
            cached = cache[type(self)] = (fields, implicit)
        fields, implicit = cached
        for field in implicit:
            field.source = None  # Field.bind sets it again, and refuses a source equal to the name
        return dict(fields)  # the BindingDict binds each field to this instance


class EnumField(serializers.ChoiceField):
    """A Greenfield enum value, read in any letter case and written in its canonical spelling.

    BTCPay reads enums with Json.NET's StringEnumConverter, which ignores case, so clients send
    ``settled`` or ``highspeed`` (btcpay-python-sdk marks invoices in lower case) and expect them
    to work; answers always carry BTCPay's spelling (``Settled``, ``HighSpeed``).
    """

    def to_internal_value(self, data):
        if isinstance(data, str):
            folded = {key.casefold(): value for key, value in self.choice_strings_to_values.items()}
            if data.casefold() in folded:
                return folded[data.casefold()]
        return super().to_internal_value(data)


class ReceiptOptionsSerializer(serializers.Serializer):
    """Greenfield ``ReceiptOptions`` of a store or an invoice: null leaves an option to the next
    level (the invoice's to its store's, the store's to BTCPay's default, true)."""

    enabled = serializers.BooleanField(required=False, allow_null=True, default=None)
    showQR = serializers.BooleanField(required=False, allow_null=True, default=None)
    showPayments = serializers.BooleanField(required=False, allow_null=True, default=None)

    class Meta:
        ref_name = "ReceiptOptions"
