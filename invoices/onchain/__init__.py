"""On-chain wallets: bitcoind adapter (``rpc``, built only by ``clients``), store descriptors,
watched addresses, the watcher sync and hot-wallet sends. Other apps use it through
``invoices.onchain.services`` and ``invoices.onchain.selectors`` only."""
