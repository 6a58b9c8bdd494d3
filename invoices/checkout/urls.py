"""Routes of the hosted checkout: the page, its polled status and panel, the hidden tabs' QR codes, the receipt."""
from django.urls import path

from invoices.checkout import views

urlpatterns = [
    path("i/<str:invoice_id>", views.checkout_page, name="checkout"),
    path("i/<str:invoice_id>/status", views.checkout_status, name="checkout-status"),
    path("i/<str:invoice_id>/panel", views.checkout_panel, name="checkout-panel"),
    path("i/<str:invoice_id>/receipt", views.checkout_receipt, name="checkout-receipt"),
    path("i/<str:invoice_id>/<str:payment_method_id>", views.checkout_page, name="checkout-method"),
    path("invoice", views.checkout_by_query, name="checkout-by-query"),
    path("modal/btcpay.js", views.modal_script, name="modal-script"),
    path("i/<str:invoice_id>/qr/<slug:tab>.svg", views.checkout_qr, name="checkout-qr"),
]
