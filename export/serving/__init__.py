"""TF Serving helpers: the ``models.config`` file, the docker command and REST request bodies.

``musictag-export`` writes ``<export_dir>/models.config`` next to ``<export_dir>/saved_model/``::

    docker run --rm -p 8501:8501 -v "$PWD/<export_dir>:/models/musictag" tensorflow/serving \\
        --model_config_file=/models/musictag/models.config

then ``POST http://localhost:8501/v1/models/musictag:predict`` with a body from
``request_body`` (TF Serving's columnar "inputs" format)::

    {"signature_name": "tag_audio", "inputs": {"waveform": [[0.0, 0.01, ...]]}}

``python -m export.serving.request song.mp3 [--lyrics=song.txt]`` writes such a body for a file
(decoded to 16 kHz mono with musictag's own decoder).
"""

from __future__ import annotations

import base64
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

DEFAULT_MODEL_NAME = "musictag"
CONTAINER_ROOT = "/models"
SAVED_MODEL_SUBDIR = "saved_model"


def models_config(models: Iterable[Tuple[str, str]], num_versions: int = 1) -> str:
    """TF Serving ``--model_config_file`` text (ModelServerConfig proto, text format).

    Args:
      models: (name, base_path) pairs; base_path is the directory holding numeric version
        subdirectories, as seen by the server (inside the container).
      num_versions: serve the latest this many versions.
    """
    blocks = []
    for name, base_path in models:
        if not name or any(c in name for c in '"\\/ '):
            raise ValueError(f"invalid model name {name!r}")
        blocks.append(
            "  config {\n"
            f"    name: \"{name}\"\n"
            f"    base_path: \"{base_path}\"\n"
            "    model_platform: \"tensorflow\"\n"
            f"    model_version_policy {{ latest {{ num_versions: {int(num_versions)} }} }}\n"
            "  }\n")
    if not blocks:
        raise ValueError("models_config needs at least one model")
    return "model_config_list {\n" + "".join(blocks) + "}\n"


def container_base_path(name: str = DEFAULT_MODEL_NAME) -> str:
    """Where the docker command mounts an export directory's SavedModel versions."""
    return f"{CONTAINER_ROOT}/{name}/{SAVED_MODEL_SUBDIR}"


def docker_command(export_dir: str, name: str = DEFAULT_MODEL_NAME, rest_port: int = 8501,
                   grpc_port: int = 8500) -> str:
    """The ``docker run`` line serving ``<export_dir>/saved_model`` with ``<export_dir>/models.config``."""
    return (f"docker run --rm -p {rest_port}:8501 -p {grpc_port}:8500 "
            f"-v \"$(realpath {export_dir}):{CONTAINER_ROOT}/{name}\" tensorflow/serving "
            f"--model_config_file={CONTAINER_ROOT}/{name}/models.config")


def request_body(waveforms: Sequence[np.ndarray], lyrics: Optional[Sequence[str]] = None,
                 lyrics_ids: Optional[np.ndarray] = None, digits: int = 6) -> dict:
    """A TF Serving REST predict body (columnar "inputs") for whole clips of one length.

    Args:
      waveforms: float [samples] per clip at the model's sample rate; all the same length
        (send clips of different lengths as separate requests).
      lyrics: raw lyrics text per clip ("" = none) -> signature ``tag_lyrics_text``.
      lyrics_ids: int [clips, tokens] vocabulary ids -> signature ``serving_default``.
      Neither -> signature ``tag_audio``.
    """
    waves = [np.asarray(w, np.float32).reshape(-1) for w in waveforms]
    if not waves or len({w.shape[0] for w in waves}) != 1:
        raise ValueError("request_body needs one or more waveforms of equal length")
    bad = [i for i, w in enumerate(waves) if not np.all(np.isfinite(w))]
    if bad:  # json would write NaN/Infinity (not JSON); the signatures reject them anyway
        raise ValueError(f"waveforms {bad} contain NaN or infinity; non-finite samples cannot be tagged")
    inputs = {"waveform": np.round(np.stack(waves).astype(np.float64), digits).tolist()}
    if lyrics is not None and lyrics_ids is not None:
        raise ValueError("give lyrics text or lyrics ids, not both")
    if lyrics is not None:
        if len(lyrics) != len(waves):
            raise ValueError(f"{len(lyrics)} lyrics for {len(waves)} waveforms")
        inputs["lyrics"] = [text or "" for text in lyrics]
        signature = "tag_lyrics_text"
    elif lyrics_ids is not None:
        ids = np.asarray(lyrics_ids, np.int64)
        if ids.ndim != 2 or ids.shape[0] != len(waves):
            raise ValueError(f"lyrics_ids must be [clips, tokens], got {ids.shape}")
        inputs["lyrics_ids"] = ids.tolist()
        signature = "serving_default"
    else:
        signature = "tag_audio"
    return {"signature_name": signature, "inputs": inputs}


def examples_request_body(serialized_examples: Sequence[bytes]) -> dict:
    """REST body for ``tag_examples``: binary strings go base64-encoded as ``{"b64": ...}``."""
    return {"signature_name": "tag_examples",
            "inputs": {"examples": [{"b64": base64.b64encode(e).decode("ascii")} for e in serialized_examples]}}


def decode_inputs(body: dict) -> dict:
    """The tensors TF Serving would build from a REST body's columnar ``inputs`` (tests, debugging)."""
    out = {}
    for key, value in body["inputs"].items():
        if key == "waveform":
            out[key] = np.asarray(value, np.float32)
        elif key == "lyrics_ids":
            out[key] = np.asarray(value, np.int32)
        elif key == "examples":
            out[key] = np.asarray([base64.b64decode(v["b64"]) for v in value], dtype=object)
        else:
            out[key] = np.asarray(value, dtype=object)
    return out
