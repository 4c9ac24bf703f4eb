"""The gentf worker: TensorFlow sessions, graphs, parameters and gradient accumulators over gRPC.

``core`` knows TensorFlow and not gRPC; ``service`` translates gRPC to core calls; ``main``
is the command line (``gentf-worker``).
"""

__version__ = "0.1.0"
