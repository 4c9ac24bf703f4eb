"""Regenerates the Python stubs in client/gentf/v1 from proto/gentf/v1/*.proto.

Usage: python tools/gen_protos.py [OUTPUT_ROOT]   (default: client)
The generated files are committed; tests/worker/test_worker_process.py::test_committed_stubs_are_current checks they match.
"""

from __future__ import annotations

import pathlib
import sys

from grpc_tools import protoc

ROOT = pathlib.Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
SERVICE_FILES = {"worker.proto"}


def generate(out_root: pathlib.Path) -> None:
    """Writes gentf/v1/*_pb2.py, *_pb2.pyi and worker_pb2_grpc.py under ``out_root``."""
    protos = sorted((PROTO_ROOT / "gentf" / "v1").glob("*.proto"))
    (out_root / "gentf" / "v1").mkdir(parents=True, exist_ok=True)
    args = ["protoc", f"-I{PROTO_ROOT}", f"--python_out={out_root}", f"--pyi_out={out_root}",
            f"--grpc_python_out={out_root}", *[str(p) for p in protos]]
    if protoc.main(args) != 0:
        raise SystemExit("protoc failed")
    for proto in protos:
        if proto.name not in SERVICE_FILES:
            (out_root / "gentf" / "v1" / f"{proto.stem}_pb2_grpc.py").unlink(missing_ok=True)


if __name__ == "__main__":
    generate(pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "client")
