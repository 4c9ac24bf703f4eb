"""Generated protocol buffer messages and gRPC stubs of the gentf wire contract (proto/gentf/v1).

Do not edit: regenerate with ``python tools/gen_protos.py``.
"""
