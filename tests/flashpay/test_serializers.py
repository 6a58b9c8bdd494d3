"""Serializers that reuse their fields per thread behave like fresh ones on every use."""
from __future__ import annotations

import threading

from rest_framework import serializers

from flashpay.serializers import ReusedFieldsMixin


class Nested(serializers.Serializer):
    code = serializers.CharField(max_length=3)


class Order(ReusedFieldsMixin, serializers.Serializer):
    amount = serializers.IntegerField(min_value=1)
    label = serializers.CharField(source="name", required=False)
    nested = Nested(required=False)


def test_each_use_validates_its_own_data_and_reports_its_own_errors():
    bad = Order(data={"amount": 0, "nested": {"code": "TOOLONG"}})
    assert not bad.is_valid()
    assert set(bad.errors) == {"amount", "nested"}

    good = Order(data={"amount": 5, "label": "tea", "nested": {"code": "EUR"}})
    assert good.is_valid(), good.errors
    assert good.validated_data == {"amount": 5, "name": "tea", "nested": {"code": "EUR"}}
    assert Order({"amount": 7, "name": "milk"}).data == {"amount": 7, "label": "milk"}
    # one set of field objects served all three
    assert good.fields["amount"] is bad.fields["amount"]


def test_threads_do_not_share_fields():
    seen = {}

    def use(name):
        order = Order(data={"amount": 1})
        order.is_valid()
        seen[name] = order.fields["amount"]

    threads = [threading.Thread(target=use, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert seen["a"] is not seen["b"]
