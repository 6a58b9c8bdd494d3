"""The hosted checkout /i/<invoiceId>: the buyer's page, its polled status and panel, QR codes, the receipt.

Everything of it is in this package (a small Django app, so templates, static files and
translations are found here):

- ``urls.py``: the routes (/i/<id>, /status, /panel, /receipt, /qr/<tab>.svg), included by flashpay/urls.py
- ``views.py``: the HTML and JSON views, language choice, CSP and framing headers
- ``selectors.py``: the page's data (amounts, QR tabs, screen, unified BIP21 link), status, receipt
- ``templates/invoices/checkout/``: page, panel, receipt, not-found
- ``static/invoices/``: checkout.js (countdown, polling, tabs, copy) and checkout.css
- ``locale/``: the page's French and Spanish translations

It only reads: payments reach an invoice through invoices.services. Lightning's LNURL-pay of an
invoice is in invoices/apis/lnurl.py and invoices/services/lnurl.py.
"""
