"""The Keras model. Importing this package registers every custom layer and loss, so
``keras.saving.load_model`` can rebuild saved musictag models."""

from musictag_tf.audio import features as _features  # noqa: F401  LogMelSpectrogram, MFCC
from musictag_tf.audio import segmentation as _segmentation  # noqa: F401  AdaptiveSegmentPooling
from musictag_tf.model import fusion as _fusion  # noqa: F401  LinearWeightedFusion
from musictag_tf.model import layers as _layers  # noqa: F401  SelfAttention & helpers
from musictag_tf.model import losses as _losses  # noqa: F401  WeightedBinaryCrossentropy
