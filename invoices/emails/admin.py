"""Admin for store e-mail rules (operators set them up for merchants) and the read-only log of sent mail."""
from django.contrib import admin

from flashpay.adminkit import ReadOnlyAdminMixin
from invoices.emails.models import EmailMessage, EmailRule, StoreEmailSettings
from invoices.emails.services import email_rule_create, email_rule_update


@admin.register(EmailRule)
class EmailRuleAdmin(admin.ModelAdmin):
    list_display = ("id", "store", "trigger", "to", "customer_email", "subject", "enabled")
    list_filter = ("trigger", "enabled", "customer_email")
    search_fields = ("=store__id", "store__name", "to", "subject")
    fields = ("store", "trigger", "to", "customer_email", "subject", "body", "enabled")
    raw_id_fields = ("store",)

    def save_model(self, request, obj, form, change) -> None:
        # Writes go through the services (full_clean, update_fields), as everywhere else.
        data = {f: form.cleaned_data[f] for f in ("trigger", "to", "customer_email", "subject", "body", "enabled")}
        if change:
            email_rule_update(rule=obj, **data)
        else:
            saved = email_rule_create(store=form.cleaned_data["store"], **data)
            obj.pk = saved.pk


@admin.register(EmailMessage)
class EmailMessageAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("id", "store", "rule", "subject", "state", "attempts", "sent_at", "created_at")
    list_filter = ("state",)
    search_fields = ("=store__id", "subject", "buyer_email")
    readonly_fields = (
        "store", "rule", "event", "recipients", "buyer_email", "subject", "body", "body_html", "state", "attempts",
        "next_attempt_at", "last_error", "sent_at", "created_at",
    )


@admin.register(StoreEmailSettings)
class StoreEmailSettingsAdmin(admin.ModelAdmin):
    """Read-only: merchants set their SMTP server through the API; the password is never shown."""

    list_display = ("store", "server", "port", "from_email", "login", "password_set")
    search_fields = ("=store__id", "store__name", "server")
    readonly_fields = ("store", "from_email", "server", "port", "login", "password_set", "disable_certificate_check", "updated_at")
    fields = readonly_fields

    @admin.display(boolean=True, description="Password set")
    def password_set(self, obj) -> bool:
        return bool(obj.password_sealed)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
