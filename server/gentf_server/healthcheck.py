"""``python -m gentf_server.healthcheck``: exit 0 when a worker reports SERVING (for Docker).

Health needs no token. With ``--tls-ca`` the check speaks TLS, verifying the worker's
certificate against that file for ``--server-name`` (default ``localhost``).
"""

from __future__ import annotations

import argparse
import sys

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Checks ``gentf.v1.Worker``'s health; 0 when SERVING, 1 otherwise."""
    p = argparse.ArgumentParser(prog="python -m gentf_server.healthcheck")
    p.add_argument("--address", default="127.0.0.1:50051")
    p.add_argument("--tls-ca", default=None, help="PEM file the worker's certificate chains to")
    p.add_argument("--server-name", default="localhost",
                   help="name the certificate must carry (default localhost)")
    p.add_argument("--timeout", type=float, default=4.0)
    args = p.parse_args(argv)
    if args.tls_ca:
        with open(args.tls_ca, "rb") as f:
            creds = grpc.ssl_channel_credentials(root_certificates=f.read())
        channel = grpc.secure_channel(args.address, creds,
                                      options=[("grpc.ssl_target_name_override", args.server_name)])
    else:
        channel = grpc.insecure_channel(args.address)
    with channel:
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(service="gentf.v1.Worker"), timeout=args.timeout)
        except grpc.RpcError as exc:
            print(f"unhealthy: {exc.code().name}", file=sys.stderr)
            return 1
    return 0 if reply.status == health_pb2.HealthCheckResponse.SERVING else 1


if __name__ == "__main__":
    sys.exit(main())
