"""musictag: automatic music tagging from audio and lyrics (TensorFlow / Keras 3)."""

__version__ = "0.1.0"
