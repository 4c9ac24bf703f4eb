"""Writes the op registry snapshot the client ships with (client/gentf/graph/op_registry.binpb.gz).

The snapshot is a gzip'd ``gentf.v1.GetOpRegistryResponse`` of every op of the installed
TensorFlow, so the client can build graphs before it talks to a worker. A client connected
to a worker with another TensorFlow version fetches that worker's registry instead.
Usage: python tools/gen_op_registry.py [OUTPUT]
"""

from __future__ import annotations

import gzip
import pathlib
import sys

from gentf_server.core.registry import op_registry

DEFAULT = pathlib.Path(__file__).resolve().parent.parent / "client" / "gentf" / "graph" / "op_registry.binpb.gz"


def main() -> None:
    """Writes the snapshot."""
    out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT
    data = op_registry().response([]).SerializeToString(deterministic=True)
    out.write_bytes(gzip.compress(data, compresslevel=9, mtime=0))
    print(f"{out}: {len(data)} bytes, {out.stat().st_size} compressed")


if __name__ == "__main__":
    main()
