"""Export a trained musictag model for serving and devices.

* ``export.saved_model``: SavedModel in TF Serving's ``<base>/<version>/`` layout with
  any-length audio, lyrics-id, raw-lyrics and tf.Example signatures; loads with plain TensorFlow.
* ``export.tflite``: fixed-shape window models (float32, dynamic-range int8, float16), builtin
  TFLite ops only, with parity and accuracy checks against the Keras model.
* ``export.serving``: TF Serving ``models.config``, docker command and REST request bodies.

Command line: ``python -m export`` / ``musictag-export`` (export/__main__.py).
"""
