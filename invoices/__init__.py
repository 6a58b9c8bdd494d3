"""Invoices, payments, on-chain wallets, hosted checkout, the Greenfield merchant API and webhooks."""
