"""Greenfield webhooks: merchants' endpoints, signed deliveries of invoice events, retries and redelivery.

Security note (SSRF): merchants choose the URLs the worker POSTs to, so a webhook can aim at an
address inside FlashPay's network (a metadata service, an admin port). Only http(s) URLs are
accepted, redirects are not followed, the response body is never shown back to the merchant (only
the status code), and each request has a short timeout. With WEBHOOKS_BLOCK_PRIVATE_NETWORKS (on
by default when DEBUG is off) the worker refuses to connect to private, loopback, link-local and
other non-global addresses (invoices.webhooks.egress). An egress firewall is still the stronger
line for deployments that host untrusted merchants.
"""
