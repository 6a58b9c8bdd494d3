"""FlashPay: the Django project and its shared kernel."""
