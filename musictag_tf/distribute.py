"""tf.distribute strategies by name, and who writes files in a multi-worker job.

``default``      one device (CPU or one GPU), tf.distribute.get_strategy()
``mirrored``     all local GPUs (or the CPU), synchronous all-reduce
``multi_worker`` MultiWorkerMirroredStrategy; reads the cluster from TF_CONFIG
``tpu``          TPUStrategy; ``tpu`` names the TPU (grpc address, name, or "local")
"""

from __future__ import annotations

import os

import tensorflow as tf

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("--strategy=multi_worker needs the TF_CONFIG environment variable "
                             "describing the cluster (see BUILD_NOTES.md)")
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or None)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that owns the model directory (always true outside multi-worker)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type == "worker" and task_id == 0 and not has_chief


def write_dir(model_dir: str, strategy: tf.distribute.Strategy) -> str:
    """Where this worker writes: the model dir on the chief, its own sub-directory elsewhere.

    Every worker of a MultiWorkerMirroredStrategy job must take part in saving; the
    non-chief copies go to ``<model_dir>/workers/<task_type>-<task_id>/`` (TensorFlow's
    documented pattern uses throw-away directories; a fixed place lets one check that all
    workers hold the same weights, and costs one model copy per worker).
    """
    if is_chief(strategy):
        return model_dir
    resolver = strategy.cluster_resolver
    return os.path.join(model_dir, "workers", f"{resolver.task_type}-{resolver.task_id}")
