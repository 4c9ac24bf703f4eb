"""The gRPC service layer: decode requests, call the core, encode replies, map errors."""
