"""Writes of the invoices app: store payment setup, invoices and their state machine, payments."""
