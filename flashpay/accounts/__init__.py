"""Users, stores, store roles and API keys (BTCPay's model)."""
