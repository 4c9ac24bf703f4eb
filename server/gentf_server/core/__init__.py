"""The worker core: sessions, graphs, compiled functions. Knows TensorFlow, not gRPC."""
