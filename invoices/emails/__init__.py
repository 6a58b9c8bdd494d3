"""Store e-mail rules: on an invoice event, mail the merchant and/or the buyer from a template."""
