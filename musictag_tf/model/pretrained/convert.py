"""Convert the four musicnn 0.1.0 TF1 checkpoints into musictag's Keras models.

    python -m musictag_tf.model.pretrained.convert \
        --wheel=musicnn-0.1.0-py3-none-any.whl --out_dir=musictag_tf/model/pretrained

Without ``--wheel`` it runs ``pip download --no-deps musicnn==0.1.0`` into a temporary
directory (the wheel is only unpacked and read, never installed or imported).

Each checkpoint is read with TensorFlow's checkpoint reader (no TF1 graph is built); every
tensor is mapped to a weight of ``build_musicnn`` / ``build_musicnn_vgg`` through
``LAYER_MAPS``. Optimizer state (``IGNORED_SUFFIXES``, ``IGNORED_NAMES``) is the only thing
skipped; any other checkpoint tensor left unmapped, any model weight with no tensor and any
shape mismatch raises ``CheckpointMappingError`` naming them all.

Per model the output directory gets ``<name>/weights.npz`` (named_weights.py),
``<name>/tags.txt`` (the labels of musicnn's configuration.py, one per line) and
``<name>/model.json`` (provenance), plus ``LICENSE-musicnn.txt`` (ISC) and
``NOTICE-musicnn.txt`` (attribution) once.
"""

from __future__ import annotations

import ast
import hashlib
import json
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile
from typing import Dict, Optional

import numpy as np

from musictag_tf.params import MusicnnParams, to_dict

CONVERTER_VERSION = 1
WHEEL_REQUIREMENT = "musicnn==0.1.0"
KNOWN_WHEEL_SHA256 = "f38a4890c648c1ddbb141c5d96d2b0a8cfcd36746002d896989f7b88beb65cfa"

# Optimizer state in the checkpoints: Adam slots and Adam's running beta powers.
IGNORED_SUFFIXES = ("/Adam", "/Adam_1")
IGNORED_NAMES = ("beta1_power", "beta2_power", "global_step")

_MUSICNN_LAYERS = {  # checkpoint scope -> our layer (creation order of musicnn/models.py)
    "batch_normalization": "input_bn",
    "conv2d": "timbral_38_conv", "batch_normalization_1": "timbral_38_bn",
    "conv2d_1": "timbral_67_conv", "batch_normalization_2": "timbral_67_bn",
    "conv2d_2": "temporal_128_conv", "batch_normalization_3": "temporal_128_bn",
    "conv2d_3": "temporal_64_conv", "batch_normalization_4": "temporal_64_bn",
    "conv2d_4": "temporal_32_conv", "batch_normalization_5": "temporal_32_bn",
    "conv2d_5": "midend_1_conv", "batch_normalization_6": "midend_1_bn",
    "conv2d_6": "midend_2_conv", "batch_normalization_7": "midend_2_bn",
    "conv2d_7": "midend_3_conv", "batch_normalization_8": "midend_3_bn",
    "batch_normalization_9": "backend_bn",
    "dense": "backend_dense", "batch_normalization_10": "embedding_penultimate",
    "dense_1": "tags_logits",
}
_VGG_LAYERS = {"batch_normalization": "input_bn", "dense": "tags_logits"}
for _i in range(1, 6):
    _VGG_LAYERS[f"{_i}CNN"] = f"vgg_{_i}_conv"
    _VGG_LAYERS[f"batch_normalization_{_i}"] = f"vgg_{_i}_bn"
LAYER_MAPS = {"musicnn": _MUSICNN_LAYERS, "vgg": _VGG_LAYERS}

# Conv2D kernels [k, C, 1, F] that span their whole input width are Conv1D kernels [k, C, F].
SQUEEZED_KERNELS = ("midend_1_conv/kernel", "midend_2_conv/kernel", "midend_3_conv/kernel")

# name -> (checkpoint dir in the wheel, architecture, label list in configuration.py, dataset)
MODELS = {
    "mtt_musicnn": ("MTT_musicnn", "musicnn", "MTT_LABELS", "MagnaTagATune"),
    "msd_musicnn": ("MSD_musicnn", "musicnn", "MSD_LABELS", "Million Song Dataset (Last.fm tags)"),
    "mtt_vgg": ("MTT_vgg", "vgg", "MTT_LABELS", "MagnaTagATune"),
    "msd_vgg": ("MSD_vgg", "vgg", "MSD_LABELS", "Million Song Dataset (Last.fm tags)"),
}

ATTRIBUTION = ("Jordi Pons and Xavier Serra, \"musicnn: pre-trained convolutional neural networks "
               "for music audio tagging\", Late-breaking/demo session, ISMIR 2019 "
               "(arXiv:1909.06654); weights from the musicnn 0.1.0 package, (c) Music Technology "
               "Group, Universitat Pompeu Fabra 2019, ISC licence (LICENSE-musicnn.txt).")


class CheckpointMappingError(ValueError):
    """The checkpoint's tensors and the Keras model's weights do not match one to one."""


def is_ignored(name: str) -> bool:
    """Optimizer state that the converter skips on purpose."""
    return name in IGNORED_NAMES or name.endswith(IGNORED_SUFFIXES)


def read_checkpoint(prefix: str) -> Dict[str, np.ndarray]:
    """Every non-optimizer tensor of the TF checkpoint at ``prefix`` (e.g. ``.../MTT_musicnn/``).

    Reads the files with ``tf.compat.v1.train.NewCheckpointReader`` on the prefix itself:
    musicnn's ``checkpoint`` state files point to the author's home directory, so
    ``tf.train.load_checkpoint(dir)`` cannot resolve them.
    """
    import tensorflow as tf

    reader = tf.compat.v1.train.NewCheckpointReader(prefix)
    names = reader.get_variable_to_shape_map()
    return {name: reader.get_tensor(name) for name in sorted(names) if not is_ignored(name)}


def checkpoint_to_named_weights(tensors: Dict[str, np.ndarray], model, layer_map: Dict[str, str]
                                ) -> Dict[str, np.ndarray]:
    """Map checkpoint tensors ``"<scope>/<var>"`` to ``{"<layer>/<weight>": array}`` for ``model``.

    Raises:
      CheckpointMappingError: listing checkpoint tensors with no model weight, model weights
        with no tensor, and shape mismatches (all at once).
    """
    from musictag_tf.model.pretrained.named_weights import model_weight_shapes

    shapes = model_weight_shapes(model)
    arrays, unmapped, mismatched, mismatched_keys = {}, [], [], set()
    for name, value in tensors.items():
        scope, _, var = name.rpartition("/")
        layer = layer_map.get(scope)
        key = f"{layer}/{var}"
        if layer is None or key not in shapes:
            unmapped.append(name)
            continue
        if key in SQUEEZED_KERNELS and value.ndim == 4 and value.shape[2] == 1:
            value = value[:, :, 0, :]
        if tuple(value.shape) != shapes[key]:
            mismatched.append(f"{name} {tuple(value.shape)} -> {key} {shapes[key]}")
            mismatched_keys.add(key)
            continue
        arrays[key] = np.asarray(value, dtype=np.float32)
    missing = sorted(set(shapes) - set(arrays) - mismatched_keys)
    problems = []
    if unmapped:
        problems.append(f"checkpoint tensors mapped to no model weight: {unmapped}")
    if missing:
        problems.append(f"model weights with no checkpoint tensor: {missing}")
    if mismatched:
        problems.append(f"shape mismatches: {mismatched}")
    if problems:
        raise CheckpointMappingError(f"cannot convert into {model.name!r}: " + "; ".join(problems))
    return arrays


def read_labels(configuration_py: pathlib.Path, variable: str) -> list:
    """A list literal assigned in musicnn's configuration.py, read with ``ast`` (not imported)."""
    tree = ast.parse(configuration_py.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == variable for t in node.targets):
            return list(ast.literal_eval(node.value))
    raise CheckpointMappingError(f"{variable} not found in {configuration_py}")


def parse_experiment_result(text: str) -> dict:
    """musicnn's experiment.result: the first AUC/ROC-AUC is ROC-AUC, the second PR-AUC."""
    values = [float(line.split(":")[1]) for line in text.splitlines()
              if line.split(":")[0].strip() in ("AUC", "ROC-AUC", "PR-AUC")]
    result = {"text": text.strip()}
    if len(values) == 2:
        result.update(roc_auc=values[0], pr_auc=values[1])
    return result


def sha256_of(path: pathlib.Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def locate_package(wheel: Optional[str], workdir: pathlib.Path) -> tuple[pathlib.Path, Optional[str]]:
    """The unpacked ``musicnn`` package dir and the wheel's sha256 (None for a directory).

    ``wheel``: a ``.whl`` file, a directory holding ``musicnn/`` or the ``musicnn`` dir itself,
    or None to ``pip download --no-deps musicnn==0.1.0`` into ``workdir``.
    """
    if wheel is None:
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        WHEEL_REQUIREMENT, "-d", str(workdir)], check=True)
        wheel = str(next(workdir.glob("musicnn-*.whl")))
    path = pathlib.Path(wheel)
    if path.is_file():
        with zipfile.ZipFile(path) as archive:
            archive.extractall(workdir / "unpacked")
        return workdir / "unpacked" / "musicnn", sha256_of(path)
    for candidate in (path / "musicnn", path):
        if (candidate / "configuration.py").is_file() and (candidate / "models.py").is_file():
            return candidate, None
    raise FileNotFoundError(f"no musicnn package (configuration.py, models.py) in {path}")


def convert_one(name: str, package: pathlib.Path, wheel_sha256: Optional[str],
                out_dir: pathlib.Path) -> dict:
    """Convert one model into ``out_dir/name``; returns its model.json content."""
    from musictag_tf.model import musicnn
    from musictag_tf.model.pretrained import named_weights

    checkpoint_dir, architecture, labels_var, dataset = MODELS[name]
    params = MusicnnParams(architecture=architecture)
    model = musicnn.build_pretrained_architecture(params, name=name)
    prefix = package / checkpoint_dir
    tensors = read_checkpoint(str(prefix) + "/")
    arrays = checkpoint_to_named_weights(tensors, model, LAYER_MAPS[architecture])
    named_weights.assign_named_weights(model, arrays)  # proves the arrays load
    labels = read_labels(package / "configuration.py", labels_var)
    if len(labels) != params.num_tags:
        raise CheckpointMappingError(f"{labels_var} has {len(labels)} labels, expected {params.num_tags}")

    target = out_dir / name
    target.mkdir(parents=True, exist_ok=True)
    named_weights.save_named_weights(target / "weights.npz", named_weights.named_weights(model))
    (target / "tags.txt").write_text("\n".join(labels) + "\n", encoding="utf-8")
    result_file = package / checkpoint_dir / "experiment.result"
    info = {
        "name": name,
        "architecture": architecture,
        "params": to_dict(params),
        "trained_on": dataset,
        "num_tags": len(labels),
        "outputs": list(musicnn.OUTPUT_NAMES),
        "windowing": {"window_samples": params.window_samples, "hop_samples": params.hop_samples,
                      "context_samples": params.context_samples, "patch_frames": params.patch_frames,
                      "sample_rate": params.audio_params().sample_rate, "remainder": "dropped",
                      "shorter_than_one_patch": "one zero-padded window"},
        "source": {"package": WHEEL_REQUIREMENT, "wheel_sha256": wheel_sha256,
                   "checkpoint": f"musicnn/{checkpoint_dir}/",
                   "checkpoint_data_sha256": sha256_of(package / checkpoint_dir / ".data-00000-of-00001"),
                   "tensors_converted": len(tensors)},
        "published_results": (parse_experiment_result(result_file.read_text(encoding="utf-8"))
                              if result_file.is_file() else None),
        "converter_version": CONVERTER_VERSION,
        "licence": "ISC (see LICENSE-musicnn.txt)",
        "attribution": ATTRIBUTION,
    }
    (target / "model.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


def notice() -> str:
    """The attribution shipped beside the converted models."""
    lines = [f"{name}: musicnn/{checkpoint}/ of {WHEEL_REQUIREMENT}, trained on {dataset}"
             for name, (checkpoint, _, _, dataset) in MODELS.items()]
    return ("The pretrained models in this directory are conversions of the musicnn checkpoints:\n\n"
            + "\n".join(lines) + "\n\n" + ATTRIBUTION + "\n\nConverted to Keras by "
            "musictag_tf/model/pretrained/convert.py (weights unchanged, float32). The licence "
            "of the weights is in LICENSE-musicnn.txt.\n")


def convert_all(wheel: Optional[str], out_dir: pathlib.Path, names=tuple(MODELS)) -> Dict[str, dict]:
    """Convert ``names`` from ``wheel`` into ``out_dir`` and copy the licence."""
    unknown = sorted(set(names) - set(MODELS))
    if unknown:
        raise ValueError(f"unknown models {unknown}; known: {sorted(MODELS)}")
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="musicnn_wheel_") as tmp:
        package, wheel_sha256 = locate_package(wheel, pathlib.Path(tmp))
        licence = next(package.parent.glob("musicnn-*.dist-info/LICENSE*"), None)
        if licence is None:
            raise FileNotFoundError(f"no LICENSE in the musicnn dist-info beside {package}")
        (out_dir / "LICENSE-musicnn.txt").write_text(licence.read_text(encoding="utf-8"), encoding="utf-8")
        (out_dir / "NOTICE-musicnn.txt").write_text(notice(), encoding="utf-8")
        return {name: convert_one(name, package, wheel_sha256, out_dir) for name in names}


def main(argv):
    from absl import flags, logging

    del argv
    f = flags.FLAGS
    out_dir = pathlib.Path(f.out_dir or pathlib.Path(__file__).resolve().parent)
    infos = convert_all(f.wheel, out_dir, tuple(f.models))
    for name, info in infos.items():
        size = os.path.getsize(out_dir / name / "weights.npz")
        logging.info("%s: %d tensors -> %s (%.1f MB), data sha256 %s", name,
                     info["source"]["tensors_converted"], out_dir / name / "weights.npz", size / 1e6,
                     info["source"]["checkpoint_data_sha256"])
    if any(i["source"]["wheel_sha256"] not in (None, KNOWN_WHEEL_SHA256) for i in infos.values()):
        logging.warning("the wheel's sha256 differs from the one these models were converted from")


def run():
    from absl import app, flags

    flags.DEFINE_string("wheel", None, "musicnn 0.1.0 wheel (.whl), or a directory holding the unpacked "
                        "musicnn package; default: pip download --no-deps musicnn==0.1.0 into a temp dir")
    flags.DEFINE_string("out_dir", None, "where to write <model>/weights.npz, tags.txt, model.json and "
                        "LICENSE-musicnn.txt; default: this package directory (the shipped models)")
    flags.DEFINE_list("models", list(MODELS), f"models to convert, of {', '.join(MODELS)}")
    app.run(main)


if __name__ == "__main__":
    run()
