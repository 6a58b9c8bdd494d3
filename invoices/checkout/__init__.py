"""The hosted checkout page /i/<invoiceId>: its page data, QR codes, status polling and receipt."""
