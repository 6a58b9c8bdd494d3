"""Our own minimal subset of LND's gRPC protos (lnrpc, routerrpc), wire-compatible with a real LND."""
