"""Greenfield API of the invoices app: invoices and store payment methods."""
