"""Greenfield store e-mail routes."""
from django.urls import path

from invoices.emails import apis

urlpatterns = [
    path("api/v1/stores/<str:storeId>/email", apis.StoreEmailSettingsApi.as_view(), name="store-email"),
    path("api/v1/stores/<str:storeId>/email/send", apis.StoreEmailSendApi.as_view(), name="store-email-send"),
]
