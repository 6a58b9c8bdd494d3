"""Lightning: node backends behind one interface, the one place that builds node clients
(``clients.py``), BOLT11 reading, our node's invoices and the record of their settlements.
LNURL lives with its users (invoices: LNURL-pay; cards: LNURL-withdraw). Other apps use it
through ``lightning.services`` and ``lightning.selectors`` only."""
