"""Development node simulators (regtest bitcoind JSON-RPC, LND gRPC) for `make run` and the tests; never production."""
