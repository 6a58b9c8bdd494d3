"""Operator admin for users, stores with their members, and API keys (secret shown once)."""
from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import ValidationError
from django.db import models, transaction

from flashpay.accounts import policies, services
from flashpay.accounts.models import APIKey, Store, StoreMember, User
from flashpay.errors import ApplicationError, FieldError


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ("username", "email", "is_staff", "is_superuser", "is_active", "date_joined")


class StoreMemberInline(admin.TabularInline):
    model = StoreMember
    extra = 0
    autocomplete_fields = ("user",)


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ("name", "id", "default_currency", "archived", "created_at")
    list_filter = ("archived", "default_currency")
    search_fields = ("name", "id")
    readonly_fields = ("id", "created_at")
    inlines = [StoreMemberInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class APIKeyForm(forms.ModelForm):
    permissions_text = forms.CharField(
        label="Permissions",
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text="One Greenfield permission per line, e.g. btcpay.store.canviewinvoices:&lt;storeId&gt;",
    )

    class Meta:
        model = APIKey
        fields = ("user", "label")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["permissions_text"].initial = "\n".join(self.instance.permissions)

    def clean_permissions_text(self) -> list[str]:
        lines = [line.strip() for line in self.cleaned_data["permissions_text"].splitlines()]
        permissions = [line for line in lines if line]
        for line in permissions:
            try:
                policies.Permission.parse(line)
            except ValueError as error:
                raise ValidationError(f"{line}: {error}")
        return permissions


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    form = APIKeyForm
    list_display = ("__str__", "user", "label", "created_at")
    search_fields = ("label", "user__username", "user__email")
    autocomplete_fields = ("user",)
    readonly_fields = ("created_at",)

    def get_readonly_fields(self, request, obj=None):
        # A key belongs to one user for life; revoke and create another to move it.
        return ("user", "created_at") if obj else ("created_at",)

    @transaction.atomic
    def save_model(self, request, obj, form, change):
        permissions = form.cleaned_data["permissions_text"]
        try:
            if change:
                services.api_key_update(api_key=obj, label=obj.label, permissions=permissions)
                return
            api_key, secret = services.api_key_create(
                user=obj.user, label=obj.label, permissions=permissions
            )
        except (ApplicationError, FieldError) as error:
            raise ValidationError(error.message)
        obj.pk = api_key.pk
        obj.key_hash = api_key.key_hash
        obj.created_at = api_key.created_at
        # The only time the secret is ever visible: it is not stored, only its hash.
        messages.warning(
            request, f"API key created: {secret} — copy it now, it will not be shown again."
        )

    def delete_model(self, request, obj):
        services.api_key_delete(api_key=obj)
