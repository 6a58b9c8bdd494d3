"""Greenfield calls the invoice tests make through the API client, with the status checked."""
from __future__ import annotations


def invoice_create(api_client, store, headers, body: dict) -> dict:
    response = api_client.post(f"/api/v1/stores/{store.pk}/invoices", body, format="json", **headers)
    assert response.status_code == 200, response.content
    return response.json()


def invoice_payment_methods(api_client, invoice_id: str, headers) -> dict[str, dict]:
    """The invoice's payment methods by paymentMethodId."""
    response = api_client.get(f"/api/v1/invoices/{invoice_id}/payment-methods", **headers)
    assert response.status_code == 200, response.content
    return {m["paymentMethodId"]: m for m in response.json()}


def invoice_get(api_client, invoice_id: str, headers) -> dict:
    response = api_client.get(f"/api/v1/invoices/{invoice_id}", **headers)
    assert response.status_code == 200, response.content
    return response.json()
