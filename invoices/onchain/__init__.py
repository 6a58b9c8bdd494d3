"""On-chain payments: bitcoind adapter, store descriptors, watched addresses and the watcher sync."""
