"""Strategy from a name and ``TF_CONFIG``, mixed precision, float32 logits."""

import json
import logging
import os
import warnings

import keras
import tensorflow as tf

from keras_se3.training.errors import SetupError

#: What the strategies and the dtype policy were set to, at INFO level (the example
#: scripts show it; a library prints nothing).
logger = logging.getLogger(__name__)


def split_cpu(count):
    """Make ``count`` logical CPU devices; must run before TensorFlow runs any op.

    Gives ``--strategy mirrored`` replicas to mirror over on a machine without GPUs
    (tests, debugging).

    Raises:
        SetupError: if TensorFlow has already initialised its devices.
    """
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)]
        )
    except RuntimeError as error:
        raise SetupError(f"cannot split the CPU after TF started: {error}") from error


def read_tf_config():
    """The parsed ``TF_CONFIG`` environment variable, checked.

    Returns:
        The dict, or None if ``TF_CONFIG`` is unset or empty.

    Raises:
        SetupError: if it is not JSON, lacks a ``cluster`` or a ``task``, or the
            task is not a member of the cluster.
    """
    text = os.environ.get("TF_CONFIG")
    if not text:
        return None
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise SetupError(f"TF_CONFIG is not valid JSON ({error}): {text!r}") from error
    example = (
        'e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
        '"task": {"type": "worker", "index": 0}}'
    )
    cluster = config.get("cluster") if isinstance(config, dict) else None
    task = config.get("task") if isinstance(config, dict) else None
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise SetupError(f"TF_CONFIG needs a 'cluster' and a 'task' ({example})")
    kind, index = task.get("type"), task.get("index")
    members = cluster.get(kind)
    if not isinstance(members, list) or not isinstance(index, int):
        raise SetupError(
            f"TF_CONFIG's task {task} is not in its cluster {cluster} ({example})"
        )
    if not 0 <= index < len(members):
        raise SetupError(
            f"TF_CONFIG's task index {index} is out of range: the cluster has "
            f"{len(members)} {kind}(s)"
        )
    return config


def is_chief():
    """Whether this process writes the checkpoints and exports (one per cluster).

    The ``chief`` task if the cluster has one, else worker 0; True without
    ``TF_CONFIG``.
    """
    config = read_tf_config()
    if config is None:
        return True
    kind, index = config["task"]["type"], config["task"]["index"]
    if "chief" in config["cluster"]:
        return kind == "chief"
    return kind == "worker" and index == 0


def make_strategy(name, cpu_devices=None):
    """A ``tf.distribute`` strategy by name; call it before any other TF work.

    Args:
        name: ``"default"`` (no distribution), ``"mirrored"`` (all local GPUs, or
            the logical CPU devices) or ``"multiworker"`` (the cluster of
            ``TF_CONFIG``; a single local worker without it).
        cpu_devices: if given, first split the CPU into this many logical devices
            (:func:`split_cpu`).

    Returns:
        The strategy (its name and replicas are logged at INFO level).

    Raises:
        SetupError: for an unknown name, a bad ``TF_CONFIG``, or a strategy
            other than ``"default"`` on a Keras backend other than TensorFlow.
    """
    backend = keras.backend.backend()
    if (name != "default" or cpu_devices) and backend != "tensorflow":
        raise SetupError(
            f"--strategy {name} (and --cpu-devices) are tf.distribute strategies: "
            f"they need KERAS_BACKEND=tensorflow, this process runs {backend!r}. "
            "On JAX, set keras.distribution.DataParallel instead (README, "
            "Backends)."
        )
    if cpu_devices:
        split_cpu(cpu_devices)
    if name == "default":
        strategy = tf.distribute.get_strategy()
    elif name == "mirrored":
        devices = None  # all GPUs, or the CPU
        if not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        strategy = tf.distribute.MirroredStrategy(devices)
    elif name == "multiworker":
        config = read_tf_config()
        if config is None:
            logger.info(
                "TF_CONFIG is not set: multiworker runs as a single local worker."
            )
        else:
            task = config["task"]
            logger.info(
                f"TF_CONFIG: cluster {config['cluster']}; this process is "
                f"{task['type']} {task['index']}" + (" (chief)" if is_chief() else "")
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        patch_keras_for_multiworker()
    else:
        raise SetupError(f"unknown strategy {name!r}")
    devices = ()
    if name != "default":
        devices = [d.split("/")[-1] for d in strategy.extended.worker_devices]
    logger.info(
        f"strategy: {name} ({type(strategy).__name__}), "
        f"{strategy.num_replicas_in_sync} "
        f"replica(s) {' '.join(devices)}".rstrip()
    )
    return strategy


def _local_value(value):
    """This worker's first replica's part of a distributed value (else ``value``)."""
    if isinstance(value, tf.distribute.DistributedValues):
        return value.values[0]
    return value


def patch_keras_for_multiworker():
    """Let ``Model.fit`` / ``evaluate`` run under ``MultiWorkerMirroredStrategy``.

    Keras 3 (through 3.15 at least; keras-team/keras#20585) cannot train under
    that strategy, for two reasons this patch mends, leaving every other strategy
    to Keras's own code:

    - before the first step it builds the metrics and optimizer from a batch that
      it averages over the replicas with ``strategy.reduce``, which fails on the
      (x, y) structure ("Attempt to convert a value (PerReplica...) to a
      Tensor").  The build needs only shapes and dtypes: this worker's own
      replica's part of the batch gives them.
    - after each step it averages the step's scalar logs (loss, metrics) over the
      replicas with ``strategy.reduce("MEAN", v, axis=0)``, an error for a
      scalar ("Invalid reduction dimension 0 for input with 0 dimensions").
      Scalars are averaged over the replicas (``axis=None``) instead.

    Idempotent.
    """
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "keras_se3_patched", False):
        return
    build, reduce_per_replica = (
        trainer.TensorFlowTrainer._maybe_symbolic_build,
        trainer.reduce_per_replica,
    )

    def multiworker(strategy):
        return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if iterator is None or not multiworker(strategy):
            return build(self, iterator=iterator, data_batch=data_batch)
        for _, _, batches in iterator:
            data_batch = tf.nest.map_structure(_local_value, next(batches))
            break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def reduce_scalars_per_replica(values, strategy, reduction):
        if not multiworker(strategy) or reduction not in ("auto", "mean"):
            return reduce_per_replica(values, strategy, reduction)

        def mean(value):
            if isinstance(value, tf.distribute.DistributedValues):
                axis = None if value.values[0].shape.rank == 0 else 0
                return strategy.reduce("MEAN", value, axis=axis)
            return value

        return tf.nest.map_structure(mean, values)

    maybe_symbolic_build.keras_se3_patched = True
    reduce_scalars_per_replica.keras_se3_patched = True
    trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    trainer.reduce_per_replica = reduce_scalars_per_replica


def values_on_every_replica(strategy, value):
    """``value`` (an int) as every replica of ``strategy`` sees it, in order.

    Under ``MultiWorkerMirroredStrategy`` this gathers across the worker
    processes (every worker must call it); otherwise each replica sees this
    process's ``value``.
    """
    replicas = strategy.num_replicas_in_sync
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return [value] * replicas
    local = strategy.run(lambda: tf.constant([value], tf.int64))
    return [int(v) for v in strategy.gather(local, axis=0).numpy()]


def set_mixed_precision(enabled):
    """Set Keras's global dtype policy.

    Args:
        enabled: False: ``"float32"``; True: ``"mixed_float16"`` if there is a GPU,
            else ``"mixed_bfloat16"`` (variables stay float32 either way).

    Returns:
        The policy's name.
    """
    if not enabled:
        policy = "float32"
    elif tf.config.list_logical_devices("GPU"):
        policy = "mixed_float16"
    else:
        policy = "mixed_bfloat16"
    keras.mixed_precision.set_global_policy(policy)
    if enabled:
        logger.info(f"mixed precision: {policy} (variables and logits in float32)")
    if policy == "mixed_bfloat16":
        # TensorFlow 2.21 (oneDNN): the bfloat16 "same" Conv3D filter gradient is
        # garbage, often NaN, where a feature map is smaller than the kernel
        # (benchmarks/onednn_bfloat16_conv3d.py). SE3Conv3D pads explicitly there.
        warnings.warn(
            "TensorFlow's bfloat16 Conv3D weight gradients on CPU are wrong "
            "where a feature map is smaller than the kernel with padding='same'; "
            "keras_se3's SE3Conv3D avoids it, a stock keras.layers.Conv3D (the CNN "
            "baselines) does not: keep its feature maps kernel-sized or train it "
            "in float32.",
            stacklevel=2,
        )
    return policy


def float32_logits(model):
    """``model`` with its first output cast to float32.

    Under mixed precision the last layer computes in float16/bfloat16; the loss
    should see float32 logits.  The returned functional model shares ``model``'s
    layers and weights and keeps its name.
    """
    logits = keras.layers.Activation("linear", dtype="float32", name="logits_float32")
    return keras.Model(model.input, logits(model.outputs[0]), name=model.name)
