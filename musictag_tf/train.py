"""Training: one custom loop (``strategy.run``) for every tf.distribute strategy.

    python -m musictag_tf.train --records_dir=records --model_dir=runs/cnn_sam --variant=cnn_sam

Keras 3 ``model.fit`` fails under MultiWorkerMirroredStrategy (keras-team/keras#20329), so
training is a custom loop that works the same under default, mirrored, multi-worker and TPU
strategies. Each epoch: a fixed number of steps over repeated, shuffled random crops; then
validation on whole clips (chunk predictions averaged per clip); a checkpoint (model,
optimizer, epoch, best score) so a killed job resumes where it stopped; TensorBoard scalars;
the best model by validation macro ROC-AUC (tasks with tags), by ``val_teacher_agreement`` when
the targets are a teacher's soft scores (records built with ``--soft_labels``: binarised teacher
scores leave few tags to rank, a noisy choice): the mean of the per-clip Pearson r of the score
vectors (``val_teacher_r``: each clip's tag profile; the train-mean baseline already reaches ~0.7)
and the per-tag Pearson r across clips of the log-odds (``val_teacher_tag_r``: each tag's ranking
of the clips, what ROC-AUC against the teacher rewards; noise on a validation set of one
recording) -- or by mean accuracy
(emotion-only tasks) saved as ``best.keras``; early stopping after ``early_stopping_patience`` epochs
without improvement.

The run directory it writes (spec.json, best.keras, checkpoints/, history.json, logs/,
training_curves.png) is laid out and read back by musictag_tf.runs.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from typing import Dict, List, Optional

import keras
import numpy as np
import tensorflow as tf

from musictag_tf import fileio
from musictag_tf import metrics as metrics_lib
from musictag_tf import distribute
from musictag_tf import params as params_lib
from musictag_tf.logs import quiet_tf_logging, show_flags_in_help
from musictag_tf.data import manifest as manifest_lib
from musictag_tf.data import pipeline
from musictag_tf.model import losses as losses_lib
from musictag_tf.model import variants
from musictag_tf import predict as predict_lib
from musictag_tf import runs

BEST_MODEL_NAME = runs.BEST_MODEL_NAME


MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")  # Keras policies (none = float32)


@dataclasses.dataclass(frozen=True)
class TrainJob:
    """One training run: where from, where to, and how."""

    records_dir: str
    model_dir: str
    model: params_lib.ModelParams = params_lib.ModelParams()
    train: params_lib.TrainParams = params_lib.TrainParams()
    strategy: str = "default"
    tpu: str = ""
    mixed_precision: str = "none"  # MIXED_PRECISION
    word_vectors: str = ""  # word2vec/GloVe text file to initialise the lyrics embedding
    steps_per_epoch: int = 0  # 0: clips in the train split // global batch size
    verbose: int = 1  # 0 silent, 1 a line per epoch, 2 also a progress bar per epoch
    init_run: str = ""  # --init_from=RUN_DIR: start from that run's weights (same variant, new heads)
    trainable: str = "all"  # with init_run: "head" / "backend" freeze (init_run_weights)


def init_run_weights(model: keras.Model, run_dir: str, trainable: str) -> int:
    """Copy every weight of ``run_dir``'s best model whose path and shape match (new heads stay
    random), then freeze: "head" trains only ``*_logits`` layers, "backend" also ``*_dense``.
    Returns the number of weights copied."""
    source = {v.path: v for v in runs.load_best_model(run_dir).weights}
    copied = 0
    for v in model.weights:
        if v.path in source and tuple(source[v.path].shape) == tuple(v.shape):
            v.assign(source[v.path])
            copied += 1
    if trainable != "all":
        suffixes = ("_logits",) if trainable == "head" else ("_logits", "_dense")
        for layer in model.layers:
            layer.trainable = layer.name.endswith(suffixes) or not layer.weights
    return copied


@dataclasses.dataclass
class TrainResult:
    model_dir: str
    best_epoch: int
    best_score: float
    selection_metric: str
    history: List[dict]
    stopped_early: bool


def selection_metric_name(heads, soft_targets: bool = False) -> str:
    """The validation score best.keras is chosen by (module docstring)."""
    if "tags" not in heads:
        return "val_emotion_accuracy"
    return "val_teacher_agreement" if soft_targets else "val_roc_auc"


def has_soft_targets(manifest: manifest_lib.Manifest) -> bool:
    """True when the records' tag targets are a teacher's scores (built with --soft_labels)."""
    return bool(manifest.config.get("source", {}).get("soft_labels"))


def make_spec(job: TrainJob, manifest: manifest_lib.Manifest, vocab_size: int) -> variants.ModelSpec:
    heads = params_lib.HEADS_BY_TASK[job.train.task]
    if any(h != "tags" for h in heads) and not manifest.has_emotion:
        raise ValueError(f"--task={job.train.task} needs emotion labels, but the records in "
                         f"{job.records_dir} have none (build them with an emotion/labels table)")
    if job.train.soft_target_loss != "bce" and not has_soft_targets(manifest):
        raise ValueError(f"--soft_target_loss={job.train.soft_target_loss} needs soft targets, but the "
                         f"records in {job.records_dir} were built without --soft_labels")
    model_params = dataclasses.replace(job.model, num_tags=manifest.num_tags, heads=heads)
    return variants.ModelSpec(model=model_params, audio=manifest.audio_params(),
                              segments=manifest.segment_params(), lyrics=manifest.lyrics_params(),
                              vocab_size=vocab_size)


def load_embedding_matrix(job: TrainJob, spec: variants.ModelSpec) -> Optional[np.ndarray]:
    if not job.word_vectors:
        return None
    from musictag_tf.lyrics import vectors as vectors_lib
    from musictag_tf.lyrics.vocab import Vocabulary
    vocab = Vocabulary.load(os.path.join(job.records_dir, manifest_lib.VOCAB_NAME))
    word_vectors = vectors_lib.WordVectors.load_word2vec_text(job.word_vectors)
    if word_vectors.dim != spec.lyrics.embedding_dim:
        raise ValueError(f"{job.word_vectors}: vectors have {word_vectors.dim} dimensions but "
                         f"LyricsParams.embedding_dim is {spec.lyrics.embedding_dim}")
    return vectors_lib.embedding_matrix(vocab, word_vectors, seed=job.train.seed)


def validation_scores(predictions: predict_lib.ClipPredictions, tags: List[str]) -> Dict[str, float]:
    """Scalar validation metrics from clip predictions (keys prefixed val_)."""
    report = predict_lib.score_clips(predictions, tags)
    out = {}
    if "tags" in report:
        out["val_roc_auc"] = report["tags"].roc_auc_macro
        out["val_pr_auc"] = report["tags"].pr_auc_macro
        targets = predictions.labels.get("tag_targets")
        if targets is not None and metrics_lib.is_soft(targets):
            for key, fn in (("val_teacher_r", metrics_lib.per_clip_pearson),
                            ("val_teacher_tag_r", metrics_lib.per_tag_pearson)):
                out[key] = metrics_lib.mean_defined(fn(predictions.probabilities["tags"], targets), empty=-1.0)
            out["val_teacher_agreement"] = (out["val_teacher_r"] + out["val_teacher_tag_r"]) / 2
    accuracies = []
    for head in params_lib.EMOTION_HEADS:
        if head in report:
            out[f"val_{head}_accuracy"] = report[head].accuracy
            accuracies.append(report[head].accuracy)
    if accuracies:
        out["val_emotion_accuracy"] = float(np.mean(accuracies))
    return out


def save_spec(model_dir: str, spec: variants.ModelSpec, tags: List[str], job: TrainJob) -> None:
    """spec.json of this job (musictag_tf.runs.save_spec)."""
    runs.save_spec(model_dir, spec, tags, params_lib.to_dict(job.train), job.records_dir, job.mixed_precision)


def plot_history(history: List[dict], path: str) -> None:
    """Training curves: loss and every validation metric against the epoch."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    epochs = [h["epoch"] for h in history]
    val_keys = sorted({k for h in history for k in h if k.startswith("val_")})
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.5))
    axes[0].plot(epochs, [h["loss"] for h in history], marker="o")
    axes[0].set(title="training loss", xlabel="epoch")
    for key in val_keys:
        axes[1].plot(epochs, [h.get(key, np.nan) for h in history], marker="o", label=key[4:])
    axes[1].set(title="validation", xlabel="epoch")
    if val_keys:
        axes[1].legend(fontsize=8)
    fileio.save_figure(fig, path, dpi=100)


def train(job: TrainJob) -> TrainResult:
    """Run (or resume) a training job; returns the best epoch and its validation score."""
    manifest = manifest_lib.read_manifest(job.records_dir)
    tags = manifest_lib.read_tags(job.records_dir)
    vocab_size = len(fileio.read_lines(os.path.join(job.records_dir, manifest_lib.VOCAB_NAME)))
    train_files = manifest_lib.split_files(job.records_dir, "train", manifest)
    valid_files = manifest_lib.split_files(job.records_dir, "valid", manifest)
    if not train_files or not valid_files:
        raise ValueError(f"{job.records_dir}: need train and valid shards, have "
                         f"{len(train_files)} train / {len(valid_files)} valid")
    keras.mixed_precision.set_global_policy(
        "float32" if job.mixed_precision == "none" else job.mixed_precision)
    keras.utils.set_random_seed(job.train.seed)

    strategy = distribute.make_strategy(job.strategy, job.tpu)
    chief = distribute.is_chief(strategy)
    out_dir = distribute.write_dir(job.model_dir, strategy)
    tf.io.gfile.makedirs(out_dir)
    spec = make_spec(job, manifest, vocab_size)
    if chief:
        save_spec(out_dir, spec, tags, job)
        runs.copy_vocabularies(job.records_dir, out_dir)

    replicas = strategy.num_replicas_in_sync
    global_batch = job.train.batch_size
    if global_batch % replicas:
        raise ValueError(f"--batch_size={global_batch} must be divisible by the {replicas} replicas")
    steps = job.steps_per_epoch or max(
        1, manifest.counts.get("train", 0) * job.train.crops_per_clip // global_batch)
    config = pipeline.PipelineConfig.from_records(manifest, spec.model)

    with strategy.scope():
        model = variants.build_model(spec, load_embedding_matrix(job, spec))
        if job.init_run and not tf.io.gfile.exists(runs.checkpoints_dir(out_dir)):
            copied = init_run_weights(model, job.init_run, job.trainable)
            if job.verbose:
                print(f"initialised {copied} of {len(model.weights)} weights from {job.init_run}", flush=True)
        optimizer = keras.optimizers.Adam(job.train.learning_rate)
        if job.mixed_precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        optimizer.build(model.trainable_variables)
        state = {"epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
                 "best_score": tf.Variable(-1.0, dtype=tf.float64, trainable=False),
                 "best_epoch": tf.Variable(0, dtype=tf.int64, trainable=False),
                 "stale_epochs": tf.Variable(0, dtype=tf.int64, trainable=False)}
        checkpoint = tf.train.Checkpoint(model=model, optimizer=optimizer, **state)
    manager = tf.train.CheckpointManager(checkpoint, runs.checkpoints_dir(out_dir), max_to_keep=3)
    if manager.latest_checkpoint:
        checkpoint.restore(manager.latest_checkpoint).expect_partial()
        if job.verbose:
            print(f"resumed from {manager.latest_checkpoint} (epoch {int(state['epoch'].numpy())})",
                  flush=True)
        if int(state["best_epoch"].numpy()) and not runs.has_best_model(job.model_dir):
            # The chief's best.keras is missing, empty or cut: the next epoch writes it whatever its
            # score (every worker reads the chief's file, so all take the same decision).
            state["best_score"].assign(-1.0)
            if job.verbose:
                print(f"{BEST_MODEL_NAME} is missing or damaged; the next epoch rewrites it", flush=True)

    dataset = strategy.distribute_datasets_from_function(
        lambda ctx: pipeline.training_dataset(
            train_files, config, ctx.get_per_replica_batch_size(global_batch), job.train,
            repeat=True, input_context=ctx))
    iterator = iter(dataset)
    loss_computer = losses_lib.MultiHeadLoss(spec.model.heads, job.train)

    def replica_step(features, labels):
        with tf.GradientTape() as tape:
            logits = model(features, training=True)
            per_example = loss_computer.per_example(logits, labels)
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=global_batch)
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss) if hasattr(optimizer, "scale_loss") else loss
        grads = tape.gradient(scaled, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    @tf.function
    def train_step(it):
        features, labels = next(it)
        per_replica = strategy.run(replica_step, args=(features, labels))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    predict_fn = predict_lib.make_predict_fn(model)
    metric_name = selection_metric_name(spec.model.heads, has_soft_targets(manifest))
    history = runs.load_history(out_dir, int(state["epoch"].numpy()))
    writers = {k: tf.summary.create_file_writer(os.path.join(out_dir, "logs", k)) for k in ("train", "valid")}
    stopped_early = False
    for epoch in range(int(state["epoch"].numpy()) + 1, job.train.epochs + 1):
        if int(state["stale_epochs"].numpy()) >= job.train.early_stopping_patience:
            stopped_early = True
            break
        start = time.time()
        bar = keras.utils.Progbar(steps, stateful_metrics=["loss"]) if job.verbose > 1 and chief else None
        losses = []
        for step in range(steps):
            losses.append(float(train_step(iterator)))
            if bar:
                bar.update(step + 1, [("loss", losses[-1])])
        train_seconds = time.time() - start
        predictions = predict_lib.predict_clips(model, valid_files, config, global_batch,
                                                job.train.eval_chunks, predict_fn=predict_fn,
                                                windows=job.train.eval_windows)
        scores = validation_scores(predictions, tags)
        # seconds = the whole epoch; train_seconds = its training steps (input pipeline included),
        # the rest is validation (musictag demo prints where the time goes from these)
        record = {"epoch": epoch, "loss": float(np.mean(losses)), "seconds": time.time() - start,
                  "train_seconds": train_seconds, **scores}
        improved = scores[metric_name] > float(state["best_score"].numpy())
        if improved:
            state["best_score"].assign(scores[metric_name])
            state["best_epoch"].assign(epoch)
            state["stale_epochs"].assign(0)
            runs.save_best_model(model, out_dir)
        else:
            state["stale_epochs"].assign_add(1)
        state["epoch"].assign(epoch)
        history.append(record)
        # History first, checkpoint last: a kill in between leaves a history one epoch ahead,
        # which resuming trims to the checkpoint's epoch (_load_history); the other order lost
        # the epoch from the history (seen in the kill test).
        runs.save_history(out_dir, history)
        with writers["train"].as_default():
            tf.summary.scalar("loss", record["loss"], step=epoch)
        with writers["valid"].as_default():
            for key, value in scores.items():
                tf.summary.scalar(key[4:], value, step=epoch)
        manager.save(checkpoint_number=epoch)
        if job.verbose:
            shown = "  ".join(f"{k[4:]} {v:.4f}" for k, v in scores.items())
            print(f"[{spec.model.variant}] epoch {epoch}/{job.train.epochs}  loss {record['loss']:.4f}  "
                  f"{shown}  best {metric_name[4:]} {float(state['best_score'].numpy()):.4f} "
                  f"@{int(state['best_epoch'].numpy())}  {record['seconds']:.1f}s"
                  + ("  *" if improved else ""), flush=True)
    else:
        stopped_early = int(state["stale_epochs"].numpy()) >= job.train.early_stopping_patience
    if chief and history:
        plot_history(history, os.path.join(out_dir, "training_curves.png"))
    if not runs.has_best_model(out_dir):
        runs.save_best_model(model, out_dir)
    return TrainResult(model_dir=job.model_dir, best_epoch=int(state["best_epoch"].numpy()),
                       best_score=float(state["best_score"].numpy()), selection_metric=metric_name,
                       history=history, stopped_early=stopped_early)


# ----------------------------------------------------------------------------- command line

def define_flags():
    from absl import flags
    F = flags
    d_model, d_train = params_lib.ModelParams(), params_lib.TrainParams()
    d_job = TrainJob(records_dir="", model_dir="")  # the job's own defaults
    F.DEFINE_string("records_dir", None, "Directory of TFRecords written by musictag-build.")
    F.DEFINE_string("model_dir", None, "Where checkpoints, logs and best.keras go (resumes if present).")
    F.DEFINE_enum("variant", d_model.variant, list(variants.VARIANTS), "Model variant.")
    F.DEFINE_enum("task", d_train.task, list(params_lib.HEADS_BY_TASK),
                  "tags: sigmoid tagging; emotion2: Thayer energy and stress (2 classes each); "
                  "emotion4: Thayer quadrant; multi: all heads.")
    F.DEFINE_integer("epochs", d_train.epochs, "Maximum epochs.")
    F.DEFINE_integer("batch_size", d_train.batch_size, "Global batch size (split across replicas).")
    F.DEFINE_float("learning_rate", d_train.learning_rate, "Adam learning rate.")
    F.DEFINE_float("pos_weight", d_train.pos_weight, "alpha >= 1 of the weighted BCE (weight of positives).")
    F.DEFINE_float("tag_loss_weight", d_train.tag_loss_weight, "Weight of the tagging loss (task=multi).")
    F.DEFINE_float("emotion_loss_weight", d_train.emotion_loss_weight, "Weight of the emotion losses.")
    F.DEFINE_integer("early_stopping_patience", d_train.early_stopping_patience,
                     "Stop after this many epochs without a better validation score.")
    F.DEFINE_integer("crops_per_clip", d_train.crops_per_clip,
                     "Random crops of --chunk_seconds drawn from each training clip per epoch.")
    F.DEFINE_enum("soft_target_loss", d_train.soft_target_loss, list(params_lib.SOFT_TARGET_LOSSES),
                  "Tag loss against soft (teacher) targets: bce, or logit_mse (squared log-odds error; "
                  "needs records built with --soft_labels).")
    F.DEFINE_integer("eval_chunks", d_train.eval_chunks, "Max chunks averaged per clip at validation.")
    F.DEFINE_integer("steps_per_epoch", d_job.steps_per_epoch, "Training steps per epoch (0: train clips // batch size).")
    F.DEFINE_float("chunk_seconds", d_model.chunk_seconds, "Model input length in seconds.")
    F.DEFINE_boolean("use_segments", d_model.use_segments,
                     "cnn_sam: pool frames in adaptive segments (else fixed-length chunks).")
    F.DEFINE_enum("strategy", d_job.strategy, list(distribute.STRATEGIES), "tf.distribute strategy.")
    F.DEFINE_string("tpu", d_job.tpu, "TPU name or address for --strategy=tpu.")
    F.DEFINE_enum("mixed_precision", d_job.mixed_precision, list(MIXED_PRECISION),
                  "Keras mixed-precision policy (features and outputs stay float32).")
    F.DEFINE_string("word_vectors", d_job.word_vectors, "word2vec/GloVe text file to initialise the lyrics embedding.")
    F.DEFINE_boolean("freeze_embedding", not d_model.train_embedding, "Keep pretrained word vectors fixed.")
    F.DEFINE_integer("seed", d_train.seed, "Random seed.")
    F.DEFINE_integer("verbose", 2, "0 silent, 1 a line per epoch, 2 with a progress bar.")
    F.DEFINE_string("init_from", d_model.init_from, "Start from a shipped pretrained model (mtt_musicnn, "
                    "msd_musicnn, mtt_vgg, msd_vgg; sets --variant=musicnn and 3.008 s windows), a shipped "
                    "student (cnn_sam_distilled: its run) or a training run directory (its variant and "
                    "weights), with new heads for these records.")
    F.DEFINE_enum("trainable", d_model.trainable, list(params_lib.TRAINABLE),
                  "With --init_from: train the new heads only, also the back end, or all layers.")
    F.mark_flags_as_required(["records_dir", "model_dir"])


def job_from_flags(FLAGS) -> TrainJob:
    model = dataclasses.replace(params_lib.ModelParams(), variant=FLAGS.variant,
                                chunk_seconds=FLAGS.chunk_seconds, use_segments=FLAGS.use_segments,
                                train_embedding=not FLAGS.freeze_embedding)
    init_run = ""
    from musictag_tf.model.pretrained import registry
    FLAGS.init_from = registry.resolve_run(FLAGS.init_from) if FLAGS.init_from else FLAGS.init_from
    if FLAGS.init_from and runs.is_run_dir(FLAGS.init_from):  # a run: its architecture and weights
        run_model = runs.load_spec(FLAGS.init_from)[0].model
        model = dataclasses.replace(run_model, trainable=FLAGS.trainable if run_model.variant == "musicnn" else "all")
        init_run = FLAGS.init_from
    elif FLAGS.init_from:  # a shipped model: its architecture, weights and 48,128-sample windows
        from musictag_tf.model.musicnn_windows import window_params
        model = dataclasses.replace(model, variant="musicnn", init_from=FLAGS.init_from, trainable=FLAGS.trainable,
                                    chunk_seconds=window_params().read_samples / 16000)
    train_params = dataclasses.replace(
        params_lib.TrainParams(), epochs=FLAGS.epochs, batch_size=FLAGS.batch_size,
        learning_rate=FLAGS.learning_rate, pos_weight=FLAGS.pos_weight, task=FLAGS.task,
        tag_loss_weight=FLAGS.tag_loss_weight, emotion_loss_weight=FLAGS.emotion_loss_weight,
        early_stopping_patience=FLAGS.early_stopping_patience, eval_chunks=FLAGS.eval_chunks,
        crops_per_clip=FLAGS.crops_per_clip, soft_target_loss=FLAGS.soft_target_loss, seed=FLAGS.seed)
    return TrainJob(records_dir=FLAGS.records_dir, model_dir=FLAGS.model_dir, model=model,
                    train=train_params, strategy=FLAGS.strategy, tpu=FLAGS.tpu,
                    mixed_precision=FLAGS.mixed_precision, word_vectors=FLAGS.word_vectors,
                    steps_per_epoch=FLAGS.steps_per_epoch,
                    verbose=FLAGS.verbose, init_run=init_run,
                    trainable="all" if model.variant == "musicnn" else FLAGS.trainable)  # musicnn: the builder freezes


def check_flags(FLAGS) -> None:
    """One line per bad flag before anything is read or built (errors.FlagError / OutputError)."""
    from musictag_tf import errors
    for name, minimum in (("epochs", 1), ("batch_size", 1), ("eval_chunks", 1), ("steps_per_epoch", 0),
                          ("crops_per_clip", 1),
                          ("early_stopping_patience", 1)):
        if getattr(FLAGS, name) < minimum:
            raise errors.FlagError(f"--{name}", f"must be >= {minimum}, got {getattr(FLAGS, name)}")
    if not fileio.is_url(FLAGS.records_dir) and not os.path.isdir(FLAGS.records_dir):
        raise errors.FlagError("--records_dir", f"{FLAGS.records_dir} is not a directory")
    fileio.check_output_dir(FLAGS.model_dir)


def main(argv):
    from absl import flags
    from musictag_tf import errors
    quiet_tf_logging()
    if len(argv) > 1:
        raise SystemExit(f"unexpected arguments: {argv[1:]}")
    try:
        check_flags(flags.FLAGS)
        result = train(job_from_flags(flags.FLAGS))
    except (errors.MusictagError, ValueError, FileNotFoundError) as exc:
        raise SystemExit(errors.report("musictag-train", exc))
    print(f"best {result.selection_metric} {result.best_score:.4f} at epoch {result.best_epoch}; "
          f"model: {os.path.join(result.model_dir, BEST_MODEL_NAME)}")


def run():
    from absl import app
    define_flags()
    show_flags_in_help(__name__)
    app.run(main)


if __name__ == "__main__":
    run()
