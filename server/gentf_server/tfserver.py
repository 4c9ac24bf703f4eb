"""``python -m gentf_server.tfserver``: a worker or parameter-server host of a gentf cluster.

Runs TensorFlow's own ``tf.distribute.Server`` for the task ``TF_CONFIG`` names (type
``worker`` or ``ps``) and serves until SIGTERM / SIGINT. Nothing of gentf's runs here: the
gentf worker (``gentf-worker --strategy parameter-server``, TF_CONFIG task ``chief``) is the
cluster's coordinator; it places variables on the ``ps`` tasks and schedules compiled
functions on the ``worker`` tasks. The same two lines of TensorFlow do the job anywhere::

    server = tf.distribute.Server(tf.distribute.cluster_resolver.TFConfigClusterResolver()
                                  .cluster_spec(), job_name=TYPE, task_index=INDEX,
                                  protocol="grpc", start=True)
    server.join()

This launcher adds only the check of ``TF_CONFIG`` (a clear message and exit status 2
when it is wrong) and a log line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading

from gentf_server.core.cluster import TFConfigError, parse_tf_config

__all__ = ["main"]

log = logging.getLogger("gentf_server.tfserver")


def main(argv: list[str] | None = None) -> int:
    """Serves the ``worker`` or ``ps`` task of ``TF_CONFIG`` until SIGTERM/SIGINT, then ends
    the process (status 0); returns 2, having started nothing, for a bad ``TF_CONFIG``."""
    p = argparse.ArgumentParser(
        prog="python -m gentf_server.tfserver",
        description="Serve one worker or ps task of a gentf parameter-server cluster "
                    "(tf.distribute.Server); the task comes from TF_CONFIG.")
    p.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (default INFO)")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        config = parse_tf_config(os.environ, expect=("worker", "ps"))
    except TFConfigError as exc:
        print(f"gentf_server.tfserver: {exc}", file=sys.stderr)
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # A worker or ps whose peer is gone fails the call at once instead of waiting, so the
    # coordinator sees the failure (TensorFlow's advice for parameter-server training).
    os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")
    import tensorflow as tf

    server = tf.distribute.Server(
        tf.train.ClusterSpec(config.cluster), job_name=config.task_type,
        task_index=config.task_index, protocol="grpc", start=True)
    log.info("serving %s at %s", config.describe(), server.target)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    log.info("stopping %s %d", config.task_type, config.task_index)
    logging.shutdown()
    # TensorFlow's server has no stop for gRPC servers: leave without joining its threads.
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
