"""django-q2 tasks for store e-mails: one send queued after commit, and the sweep of due retries."""
from __future__ import annotations

from invoices.emails.services import email_message_send, email_messages_send_due


def email_message_send_task(message_id: int) -> str | None:
    message = email_message_send(message_id=message_id)
    return None if message is None else message.state


def emails_send_due() -> int:
    return email_messages_send_due()
