"""Greenfield webhooks: merchants' endpoints, signed deliveries of invoice events, retries and redelivery.

Security note (SSRF): merchants choose the URLs the worker POSTs to, so a webhook can aim at an
address inside FlashPay's network (a metadata service, an admin port). Only http(s) URLs are
accepted, redirects are not followed, the response body is never shown back to the merchant (only
the status code), and each request has a short timeout. Deployments that host untrusted merchants
should also run the worker behind an egress proxy or firewall that refuses private ranges.
"""
