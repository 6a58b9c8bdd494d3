"""Reads of store e-mail rules and sent messages."""
from __future__ import annotations

from django.db.models import QuerySet

from invoices.emails.models import EmailMessage, EmailRule, StoreEmailSettings


def email_rule_list(*, store_id: str) -> QuerySet[EmailRule]:
    return EmailRule.objects.filter(store_id=store_id).order_by("created_at", "pk")


def email_message_list(*, store_id: str) -> QuerySet[EmailMessage]:
    return EmailMessage.objects.filter(store_id=store_id).order_by("-created_at", "-pk")


def store_email_settings_get(*, store_id: str) -> StoreEmailSettings | None:
    return StoreEmailSettings.objects.filter(store_id=store_id).first()
