"""Models of the invoices app."""
