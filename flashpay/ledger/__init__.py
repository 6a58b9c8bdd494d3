"""The double-entry ledger: accounts, transactions, entries and holds, all in msat."""
