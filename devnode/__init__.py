"""The development node: regtest bitcoind JSON-RPC and LND gRPC simulators for `make run`, the tests and bench/.

A development tool, not part of FlashPay: it is left out of the installed package and the
production image, and no production module may import it (an import-linter contract). As a
Django app (added to INSTALLED_APPS only in development, see settings) it owns `manage.py devnode`.

- `bitcoind.py`: the JSON-RPC server (chain, mempool, descriptor wallets, ZMQ); `chain.py` its blocks
- `lnd.py`: two LND nodes over gRPC with TLS and macaroons (`flashpay` and `external`)
- `bolt11.py`: signed `lnbcrt` invoices for the LND simulator
- `management/commands/devnode.py`: serve both, or pay/send/mine against a running devnode
"""
