"""Frozen configuration dataclasses, one per concern.

Every number the system depends on lives here, with its unit. The builder, the tf.data
pipeline, the model and the exporters all take these objects, so an exported model cannot
drift from the data it was trained on: the configs used are saved beside records,
checkpoints and exports (``to_dict`` / ``from_dict``).

Units: samples and Hz for audio, frames for spectrogram time steps (one frame every
``AudioParams.hop_samples`` samples), mel bins for the frequency axis, tokens for lyrics.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Type, TypeVar

from musictag_tf.errors import MusictagError

T = TypeVar("T")


class ConfigError(MusictagError, ValueError):
    """A configuration value is out of its allowed range (a MusictagError, so every CLI reports it)."""


def to_dict(params: Any) -> dict:
    """Plain-JSON dict of a params dataclass (tuples become lists)."""
    return dataclasses.asdict(params)


def from_dict(cls: Type[T], values: Mapping[str, Any]) -> T:
    """Rebuild a params dataclass from ``to_dict`` output, ignoring unknown keys.

    Unknown keys are dropped so that records written by an older version stay readable;
    tuple-typed fields are restored from JSON lists.
    """
    names = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in values.items():
        if key not in names:
            continue
        if isinstance(value, list):
            value = tuple(value)
        kwargs[key] = value
    return cls(**kwargs)


@dataclasses.dataclass(frozen=True)
class AudioParams:
    """Decoding and log-mel front end.

    Defaults follow the MTAT literature (musicnn, Pons et al.): 16 kHz mono, 512-sample
    window, 256-sample hop, 96 mel bins, power mel spectrogram compressed as
    ``log10(1 + 10000 * mel)``.
    """

    sample_rate: int = 16000  # Hz; every waveform in the system is at this rate
    window_samples: int = 512  # STFT window and FFT length, samples (32 ms)
    hop_samples: int = 256  # STFT hop, samples (16 ms); one log-mel frame per hop
    n_mels: int = 96  # mel bins
    fmin_hz: float = 0.0
    fmax_hz: float = 8000.0  # Nyquist at 16 kHz
    mel_scale: str = "slaney"  # "slaney" (librosa default, area-normalised) or "htk"
    log_multiplier: float = 10000.0  # log10(1 + log_multiplier * mel_power)
    center: bool = True  # zero-pad window/2 on both sides, as librosa 0.11 does (pad_mode="constant")
    pre_emphasis: float = 0.97  # Y[n] = X[n] - a*X[n-1]; a in [0.95, 0.97]
    apply_pre_emphasis: bool = True  # the paper pre-emphasises before the STFT
    stft_impl: str = "auto"  # "rfft" (tf.signal.stft), "matmul" (DFT as matmul), "auto"
    n_mfcc: int = 20  # MFCCs taken from the same log-mel when requested
    # Round the mel power to float16 (and back) before the log, as musicnn stored its mel
    # spectrograms; False (the default) keeps full float32.
    round_mel_to_float16: bool = False

    def __post_init__(self):
        if self.sample_rate <= 0:
            raise ConfigError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.hop_samples <= 0 or self.window_samples < self.hop_samples:
            raise ConfigError("need 0 < hop_samples <= window_samples, got "
                              f"hop={self.hop_samples} window={self.window_samples}")
        if not 0.95 <= self.pre_emphasis <= 0.97:
            raise ConfigError(f"pre_emphasis must be in [0.95, 0.97], got {self.pre_emphasis}")
        if self.mel_scale not in ("slaney", "htk"):
            raise ConfigError(f"mel_scale must be 'slaney' or 'htk', got {self.mel_scale!r}")
        if self.stft_impl not in ("auto", "rfft", "matmul"):
            raise ConfigError(f"stft_impl must be auto|rfft|matmul, got {self.stft_impl!r}")
        if not 0 <= self.fmin_hz < self.fmax_hz <= self.sample_rate / 2:
            raise ConfigError(f"need 0 <= fmin < fmax <= sr/2, got {self.fmin_hz}, {self.fmax_hz}")
        if not 0 < self.n_mfcc <= self.n_mels:
            raise ConfigError(f"n_mfcc must be in (0, n_mels], got {self.n_mfcc}")

    @property
    def n_fft_bins(self) -> int:
        """Number of linear-frequency STFT bins (window/2 + 1)."""
        return self.window_samples // 2 + 1

    @property
    def frame_rate_hz(self) -> float:
        """Log-mel frames per second."""
        return self.sample_rate / self.hop_samples

    def num_frames(self, num_samples: int) -> int:
        """Frames the front end produces for ``num_samples`` samples."""
        if self.center:
            return 1 + num_samples // self.hop_samples
        return 1 + max(0, num_samples - self.window_samples) // self.hop_samples

    def seconds_to_samples(self, seconds: float) -> int:
        return int(round(seconds * self.sample_rate))


@dataclasses.dataclass(frozen=True)
class SegmentParams:
    """Adaptive segmentation (the paper's hierarchical adaptive music representation).

    Frames are compared in a self-similarity matrix; a Foote checkerboard kernel along its
    diagonal gives a novelty curve whose peaks are segment boundaries, constrained to give
    segments between ``min_segment_seconds`` and ``max_segment_seconds``.
    """

    kernel_seconds: float = 1.0  # half-width of the checkerboard kernel, s
    min_segment_seconds: float = 1.0
    max_segment_seconds: float = 4.0
    peak_threshold: float = 0.0  # peaks must exceed mean + threshold*std of the clip's novelty
    min_novelty: float = 0.05  # ...and this absolute novelty in [0, 1]: (1 - cos)/2 between
    # the mean directions of the two kernel halves; keeps steady audio from being cut at noise
    smooth_frames: int = 4  # average-pool frames (x hop) before the SSM to cut cost/noise

    def __post_init__(self):
        if self.min_segment_seconds <= 0:
            raise ConfigError("min_segment_seconds must be positive")
        if self.max_segment_seconds < 2 * self.min_segment_seconds:
            raise ConfigError("max_segment_seconds must be >= 2 * min_segment_seconds so "
                              "long segments can be split without breaking the minimum, got "
                              f"min={self.min_segment_seconds} max={self.max_segment_seconds}")
        if self.kernel_seconds <= 0 or self.smooth_frames < 1:
            raise ConfigError("kernel_seconds must be > 0 and smooth_frames >= 1")
        if not 0.0 <= self.min_novelty < 1.0:
            raise ConfigError(f"min_novelty must be in [0, 1), got {self.min_novelty}")

    def max_segments(self, duration_seconds: float) -> int:
        """Upper bound on segments in a clip of ``duration_seconds`` (static model size)."""
        return max(1, int(math.ceil(duration_seconds / self.min_segment_seconds)))


@dataclasses.dataclass(frozen=True)
class LyricsParams:
    """Lyrics tokenization, vocabulary and sequence length."""

    max_tokens: int = 256  # token ids per clip fed to the model (pad/truncate)
    vocab_size: int = 20000  # cap, including the reserved ids
    min_count: int = 2  # words seen fewer times map to OOV
    lowercase: bool = True
    remove_stopwords: bool = True
    chinese_units: str = "words"  # "words" (jieba, the paper's words-as-units) or "chars"
    embedding_dim: int = 64
    pad_id: int = 0  # reserved id 0: padding; also the whole sequence when lyrics are missing
    oov_id: int = 1  # reserved id 1: out-of-vocabulary word

    def __post_init__(self):
        if self.chinese_units not in ("words", "chars"):
            raise ConfigError(f"chinese_units must be 'words' or 'chars', got {self.chinese_units!r}")
        if self.max_tokens <= 0 or self.vocab_size <= 2:
            raise ConfigError("max_tokens must be > 0 and vocab_size > 2")


@dataclasses.dataclass(frozen=True)
class WordVectorParams:
    """Skip-gram with negative sampling, trained in TensorFlow."""

    dim: int = 64
    window: int = 3  # context words on each side
    negatives: int = 5  # negative samples per positive pair
    epochs: int = 5
    batch_size: int = 1024
    learning_rate: float = 0.01
    seed: int = 0


# The dataset splits, in order, everywhere (records, MTAT split files, evaluation).
SPLITS = ("train", "valid", "test")


@dataclasses.dataclass(frozen=True)
class BuilderParams:
    """The offline TFRecords builder."""

    clips_per_shard: int = 256  # ~256 x 29 s x (int16 wave + f16 mel) ~ 300 MB at MTAT size
    num_workers: int = 0  # 0 = all cores
    top_n_tags: int = 50
    split: str = "folders"  # "folders" (0-b train, c valid, d-f test) or "won2020"
    keep_waveform: bool = True
    store_segments: bool = True
    # clips that may fail (or be refused) before musictag-build exits non-zero: a count ("3") or
    # a fraction of the clips ("0.05"); "0": any failure is an error
    max_failures: str = "0"
    allow_outside_root: bool = False  # read table rows naming files outside the root
    # Longest file (s, from its header) built as ONE record without --clip_seconds; longer files
    # fail before decoding ("cut it with --clip_seconds"), the others are built. A whole-file record
    # is held in memory: decoded at the file's rate (10 min of 44.1 kHz stereo float32: 212 MB)
    # plus mono, 16 kHz copy and record, ~0.4 GB at this limit. 0 = no limit. Clips (--clip_seconds)
    # hold one clip whatever the file's length.
    max_record_seconds: float = 600.0

    def __post_init__(self):
        if not self.max_record_seconds >= 0:
            raise ConfigError(f"max_record_seconds must be >= 0 (0 = no limit), got {self.max_record_seconds}")


@dataclasses.dataclass(frozen=True)
class SyntheticParams:
    """The deterministic synthetic tagged dataset (audio + lyrics + emotion)."""

    num_clips: int = 480
    clip_seconds: float = 8.0
    lyrics_fraction: float = 0.6  # share of clips whose lyrics text is available (independent of voice)
    seed: int = 1234
    chinese_fraction: float = 0.2  # share of lyric clips whose lyrics are Chinese (the rest English)
    label_noise: float = 0.04  # share of positive tag labels dropped (weak labels, as in MTAT)
    # share of clips in the valid (c) + test (d-f) folders, 1 : 3 as in MTAT; 0.25 = MTAT's
    # 75/6.25/18.75 %. Small synthetic sets use more so that valid/test can separate models.
    evaluation_share: float = 0.25

    def __post_init__(self):
        if self.num_clips <= 0:
            raise ConfigError(f"num_clips must be positive, got {self.num_clips}")
        if self.clip_seconds < 1.0:
            raise ConfigError(f"clip_seconds must be >= 1 s, got {self.clip_seconds}")
        for name in ("lyrics_fraction", "chinese_fraction"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if not 0.05 <= self.evaluation_share <= 0.8:
            raise ConfigError(f"evaluation_share must be in [0.05, 0.8], got {self.evaluation_share}")
        if not 0.0 <= self.label_noise < 0.5:
            raise ConfigError(f"label_noise must be in [0, 0.5), got {self.label_noise}")


# Model variants, output heads and the classes of each emotion head: defined once, here.
VARIANTS = ("cnn_sam", "linear_fusion", "audio_vgg", "lyrics_textcnn")
# Fine-tuned shipped models (musictag-train --init_from=mtt_musicnn): not part of the paper's comparison
PRETRAINED_VARIANTS = ("musicnn",)
TRAINABLE = ("head", "backend", "all")  # what fine-tuning trains (musictag_tf/model/pretrained/finetune.py)
EMOTION_HEADS = {"energy": 2, "stress": 2, "quadrant": 4}  # Thayer heads -> softmax classes
HEADS = ("tags",) + tuple(EMOTION_HEADS)


@dataclasses.dataclass(frozen=True)
class ModelParams:
    """Architecture of every model variant (see musictag_tf/model/variants.py)."""

    variant: str = "cnn_sam"  # cnn_sam | linear_fusion | audio_vgg | lyrics_textcnn
    num_tags: int = 50
    chunk_seconds: float = 8.0  # waveform input length; longer audio is windowed
    # mel Conv2D branch
    mel_filters: tuple = (32, 64, 64, 128)
    mel_freq_pools: tuple = (2, 3, 4, 4)  # 96 mel bins -> 1
    mel_time_pools: tuple = (2, 2, 1, 1)  # frames -> frames / 4
    # sample-level Conv1D branch on the waveform
    wave_filters: tuple = (32, 64, 128)
    wave_first_stride: int = 64  # samples; later blocks pool to the mel branch's frame rate
    # lyrics TextCNN branch
    text_filters: int = 64
    text_kernel_sizes: tuple = (2, 3, 4)
    train_embedding: bool = True  # False keeps pretrained word vectors fixed
    # sequence model
    use_segments: bool = True  # adaptive segment pooling before the BiLSTM (cnn_sam)
    lstm_units: int = 64  # per direction
    lstm_unroll: bool = True  # TFLite builtins need an unrolled LSTM (see BUILD_NOTES.md)
    attention_heads: int = 4  # r
    attention_hidden: int = 64  # d_a
    attention_penalty: float = 0.01  # weight of ||A A^T - I||_F^2; 0 disables
    fusion_units: int = 128
    dropout: float = 0.5
    # Moving-average momentum of batch norm. Keras' 0.99 averages over ~100 steps: a synthetic
    # epoch is ~12 steps, so the inference statistics lagged the weights by ~8 epochs and the
    # validation scores jumped between epochs (energy accuracy 0.83 -> 0.53 -> 0.79). 0.9 (the
    # PyTorch default) follows within ~10 steps and is also fine for MTAT-sized epochs.
    batch_norm_momentum: float = 0.9
    # output heads: "tags" (sigmoid, num_tags) and Thayer emotion softmax heads "energy" (2),
    # "stress" (2), "quadrant" (4); training sets them from TrainParams.task (HEADS_BY_TASK)
    heads: tuple = HEADS
    vgg_filters: tuple = (32, 64, 128, 128)
    # variant "musicnn": the shipped model it starts from and which layers train
    init_from: str = ""
    trainable: str = "all"

    def __post_init__(self):
        if self.variant not in VARIANTS + PRETRAINED_VARIANTS:
            raise ConfigError(f"unknown model variant {self.variant!r}")
        if (self.variant in PRETRAINED_VARIANTS) != bool(self.init_from) or self.trainable not in TRAINABLE:
            raise ConfigError(f"variant {self.variant!r} with init_from={self.init_from!r}, trainable="
                              f"{self.trainable!r}: init_from names the shipped model of variant 'musicnn' "
                              f"only; trainable is one of {TRAINABLE}")
        if len(self.mel_filters) != len(self.mel_freq_pools) or \
                len(self.mel_filters) != len(self.mel_time_pools):
            raise ConfigError("mel_filters, mel_freq_pools and mel_time_pools must have equal length")
        if self.num_tags <= 0 or self.attention_heads <= 0:
            raise ConfigError("num_tags and attention_heads must be positive")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}")
        unknown = set(self.heads) - set(HEADS)
        if unknown or not self.heads:
            raise ConfigError(f"heads must be a non-empty subset of tags/energy/stress/quadrant, got {self.heads}")

    @property
    def time_downsample(self) -> int:
        """Log-mel frames per audio sequence step after the Conv2D blocks."""
        return int(math.prod(self.mel_time_pools))


HEADS_BY_TASK = {
    "tags": ("tags",),
    "emotion2": ("energy", "stress"),  # the two Thayer dimensions, two classes each
    "emotion4": ("quadrant",),  # Thayer's four quadrants
    "multi": HEADS,
}


@dataclasses.dataclass(frozen=True)
class TagParams:
    """How audio longer than one window is tagged: by ``musictag tag``, the SavedModel's serving
    graph, the TFLite tagger AND evaluation (musictag_tf.windows), so reported numbers are what
    users get.

    hop_fraction: window hop as a fraction of the window (ModelParams.chunk_seconds); 0.5 = half.
    top_k: tag names returned per clip by the serving signatures (capped at num_tags).
    window_batch: windows per forward pass inside the serving graph (bounds memory on long songs).
    default_model: what ``musictag tag`` uses without ``--model`` (a shipped pretrained model).
    workers: files tagged at once (musictag_tf.tag.tagger.tag_paths): 0 = one per CPU core for
      backends with per-thread model copies (TFLite), 1 = one file at a time.
    """

    hop_fraction: float = 0.5
    top_k: int = 5
    window_batch: int = 16
    default_model: str = "mtt_musicnn"
    workers: int = 0

    def __post_init__(self):
        if not 0.0 < self.hop_fraction <= 1.0:
            raise ConfigError(f"hop_fraction must be in (0, 1], got {self.hop_fraction}")
        if self.top_k <= 0:
            raise ConfigError(f"top_k must be positive, got {self.top_k}")
        if self.window_batch <= 0:
            raise ConfigError(f"window_batch must be positive, got {self.window_batch}")
        if self.workers < 0:
            raise ConfigError(f"workers must be >= 0, got {self.workers}")

    def hop_samples(self, chunk_samples: int) -> int:
        """Hop in samples for windows of ``chunk_samples`` samples (>= 1)."""
        return max(1, int(round(chunk_samples * self.hop_fraction)))


# Evaluation window protocols (TrainParams.eval_windows): "tagger" = the windows musictag tag and
# the SavedModel use (TagParams.hop_fraction, last window at the clip's end); "spread" = the MTAT
# literature's chunks spread evenly over the clip (at most TrainParams.eval_chunks of them).
EVAL_WINDOWS = ("tagger", "spread")

# Tag losses against soft targets (TrainParams.soft_target_loss; musictag_tf/model/losses.py):
# "bce" = the weighted BCE with the teacher's probabilities as y; "logit_mse" = squared error
# between the student's and the teacher's log-odds (Ba & Caruana 2014). Hard 0/1 labels always
# use the weighted BCE.
SOFT_TARGET_LOSSES = ("bce", "logit_mse")


@dataclasses.dataclass(frozen=True)
class TrainParams:
    """Training loop (musictag_tf/train.py)."""

    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 1e-3
    pos_weight: float = 1.0  # alpha of the weighted BCE, >= 1
    task: str = "tags"  # tags | emotion2 | emotion4 | multi
    tag_loss_weight: float = 1.0
    emotion_loss_weight: float = 1.0
    early_stopping_patience: int = 5  # epochs without validation ROC-AUC gain
    shuffle_buffer: int = 1024
    crops_per_clip: int = 1  # random crops drawn from each training clip per epoch
    soft_target_loss: str = "bce"  # SOFT_TARGET_LOSSES: tag loss against soft (teacher) targets
    eval_chunks: int = 16  # eval_windows="spread" only: chunks per clip (16 in the MTAT literature)
    seed: int = 0
    eval_windows: str = "tagger"  # EVAL_WINDOWS: "tagger" (what users get) or "spread" (literature)

    def __post_init__(self):
        if self.pos_weight < 1.0:
            raise ConfigError(f"pos_weight (alpha) must be >= 1, got {self.pos_weight}")
        if self.task not in HEADS_BY_TASK:
            raise ConfigError(f"task must be tags|emotion2|emotion4|multi, got {self.task!r}")
        if self.epochs <= 0 or self.batch_size <= 0 or self.learning_rate <= 0:
            raise ConfigError("epochs, batch_size and learning_rate must be positive")
        if self.crops_per_clip < 1:
            raise ConfigError(f"crops_per_clip must be >= 1, got {self.crops_per_clip}")
        if self.soft_target_loss not in SOFT_TARGET_LOSSES:
            raise ConfigError(f"soft_target_loss must be one of {SOFT_TARGET_LOSSES}, "
                              f"got {self.soft_target_loss!r}")
        if self.eval_windows not in EVAL_WINDOWS:
            raise ConfigError(f"eval_windows must be one of {EVAL_WINDOWS}, got {self.eval_windows!r}")


@dataclasses.dataclass(frozen=True)
class MusicnnParams:
    """The pretrained musicnn / VGG taggers of Pons & Serra 2019 (musictag_tf/model/musicnn.py).

    Every number is the original musicnn 0.1.0's (``musicnn/models.py``, ``configuration.py``,
    ``extractor.py``); the converted checkpoints only fit these values.
    One model call tags one patch of ``patch_frames`` log-mel frames (3 s) computed from
    ``window_samples`` raw samples at 16 kHz with an un-centred STFT (see ``window_samples``).
    """

    architecture: str = "musicnn"  # "musicnn" (timbral+temporal front end) or "vgg"
    num_tags: int = 50
    patch_frames: int = 187  # log-mel frames per patch (3 s at 16 kHz, hop 256)
    # front end (musicnn): filters = int(frontend_filter_factor * 128) timbral, * 32 temporal
    frontend_filter_factor: float = 1.6
    timbral_kernel_frames: int = 7  # time extent of the timbral filters, frames
    timbral_kernel_mel_fractions: tuple = (0.4, 0.7)  # freq extent = int(f * n_mels) mel bins
    temporal_kernel_frames: tuple = (128, 64, 32)  # time extent of the temporal filters, frames
    # mid end (musicnn): three 1-D convolutions over time, residual from the 2nd on
    midend_filters: int = 64
    midend_kernel_frames: int = 7
    # back end (musicnn): max+mean pooling -> BN -> dense(units) -> BN -> dense(num_tags)
    backend_units: int = 200
    # vgg: five 3x3 Conv2D blocks
    vgg_filters: int = 128
    vgg_dropout: float = 0.25  # between VGG blocks (training only)
    dropout: float = 0.5  # before each dense layer (training only)
    batch_norm_epsilon: float = 1e-3  # tf.compat.v1.layers.batch_normalization's default
    batch_norm_momentum: float = 0.99  # idem (only matters when fine-tuning)
    # front end as musicnn's: librosa melspectrogram (power 2, Slaney mels, no pre-emphasis),
    # stored as float16, then log10(1 + 10000 x)
    round_mel_to_float16: bool = True

    def __post_init__(self):
        if self.architecture not in ("musicnn", "vgg"):
            raise ConfigError(f"architecture must be 'musicnn' or 'vgg', got {self.architecture!r}")
        if self.architecture == "vgg" and self.patch_frames != 187:
            raise ConfigError("the VGG model's dense layer fixes patch_frames to 187")
        if self.patch_frames <= 0 or self.num_tags <= 0:
            raise ConfigError("patch_frames and num_tags must be positive")

    def audio_params(self) -> AudioParams:
        """The in-graph front end: un-centred frames over one window (musicnn's mel, log10(1+10^4 x))."""
        return AudioParams(sample_rate=16000, window_samples=512, hop_samples=256, n_mels=96,
                           fmin_hz=0.0, fmax_hz=8000.0, mel_scale="slaney", log_multiplier=10000.0,
                           center=False, apply_pre_emphasis=False,
                           round_mel_to_float16=self.round_mel_to_float16)

    @property
    def window_samples(self) -> int:
        """Samples per model input: (patch_frames - 1) * hop + n_fft = 48,128 (3.008 s)."""
        audio = self.audio_params()
        return (self.patch_frames - 1) * audio.hop_samples + audio.window_samples

    @property
    def hop_samples(self) -> int:
        """Samples between windows: patch_frames * hop = 47,872 (patches do not overlap)."""
        return self.patch_frames * self.audio_params().hop_samples

    @property
    def context_samples(self) -> int:
        """Zero samples before the file start (librosa's centring, n_fft // 2 = 256)."""
        return self.audio_params().window_samples // 2


@dataclasses.dataclass(frozen=True)
class StreamParams:
    """Block-wise decoding (musictag_tf/audio/stream.py): bounded memory whatever the file length.

    Memory held while streaming is about one decoded block (``block_seconds`` x the file's rate x
    channels x 4 bytes: 3.5 MB for 10 s of 44.1 kHz stereo) plus soxr's state plus one window.
    """

    block_seconds: float = 10.0  # audio decoded per read, s at the file's own rate
    max_seconds: float | None = None  # read only the first max_seconds of a file (None = all)
    # Folders: blocks decoded ahead in a background thread while the model runs (0 = off); each
    # is block_seconds of audio at the model's rate (8 x 10 s x 16 kHz float32 = 5 MB at most).
    # Off by default: on the loaded 2-core machine it measured no faster (BUILD_NOTES.md,
    # "Tagging speed"); musictag tag --decode_ahead_blocks=8 turns it on.
    decode_ahead_blocks: int = 0

    def __post_init__(self):
        if self.decode_ahead_blocks < 0:
            raise ConfigError(f"decode_ahead_blocks must be >= 0, got {self.decode_ahead_blocks}")
        if not self.block_seconds > 0:
            raise ConfigError(f"block_seconds must be positive, got {self.block_seconds}")
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"max_seconds must be positive or None, got {self.max_seconds}")


@dataclasses.dataclass(frozen=True)
class Int8Params:
    """Full-integer int8 TFLite window model (export/tflite.py, variant ``int8``).

    calibration_windows: windows of the records' training split the converter runs to find each
        activation's int8 range (the representative dataset); ~0.05 s of float inference each.
    calibration_windows_per_clip: at most this many windows per clip ("spread" windows), so the
        calibration set covers calibration_windows / calibration_windows_per_clip different clips.
    float_layers: Keras layer classes whose ops stay float32 (everything else with an int8 kernel
        runs in int8; the graph-level non-finite guard, id mapping and output activations stay
        float too). Measured reasons, BUILD_NOTES.md "Full-integer int8": LogMelSpectrogram
        (RFFT2D has float kernels only, and the mel projection of a ~100 dB power spectrum cannot
        be int8 per tensor), AdaptiveSegmentPooling (segment boundaries are discrete decisions on
        the log-mel's novelty), Bidirectional (the unrolled int8 LSTM makes XNNPACK fail to
        prepare the model: "failed to create XNNPACK runtime").
    """

    calibration_windows: int = 200
    calibration_windows_per_clip: int = 2
    float_layers: tuple = ("LogMelSpectrogram", "AdaptiveSegmentPooling", "Bidirectional")

    def __post_init__(self):
        if self.calibration_windows <= 0 or self.calibration_windows_per_clip <= 0:
            raise ConfigError("calibration_windows and calibration_windows_per_clip must be positive, got "
                              f"{self.calibration_windows}, {self.calibration_windows_per_clip}")


@dataclasses.dataclass(frozen=True)
class DemoParams:
    """``musictag demo`` (musictag_tf/demo.py): every stage on the synthetic set, sized for 2 CPU cores.

    data: 800 clips of 8 s, half of them in the valid/test folders (100 / 300 clips): the test
      differences between the variants are a few clips, so the evaluation sets must be larger
      than MTAT's 25 % would give.
    segments: adaptive segments of 0.5-2 s (the synthetic clips' sections last 2-4 s).
    model: the layers of ModelParams, narrower, on 4 s crops; the VGG baseline (audio_vgg and
      the audio half of linear_fusion) is 8-16-32-64 filters wide, ~2.8x fewer multiply-adds
      than 16-32-48-64 for the same test scores (BUILD_NOTES.md, "musictag demo in half the time").
    train: every head at once (task multi), at most ``epochs`` epochs, early stopping after
      ``early_stopping_patience`` epochs without a better validation macro ROC-AUC.
    clips_per_shard: TFRecord shard size of the demo's records (clips).
    tflite_variants: the TFLite files the demo exports: the one it tags with (export/tflite.py
      VARIANTS lists all; ``musictag-export`` writes the others).
    """

    data: SyntheticParams = SyntheticParams(num_clips=800, clip_seconds=8.0, evaluation_share=0.5)
    segments: SegmentParams = SegmentParams(kernel_seconds=0.5, min_segment_seconds=0.5,
                                            max_segment_seconds=2.0)
    model: ModelParams = ModelParams(
        chunk_seconds=4.0, mel_filters=(16, 32, 32, 64), wave_filters=(16, 32, 64), text_filters=32,
        lstm_units=32, attention_hidden=32, fusion_units=64, vgg_filters=(8, 16, 32, 64))
    train: TrainParams = TrainParams(epochs=11, batch_size=32, learning_rate=2e-3, pos_weight=2.0,
                                     task="multi", early_stopping_patience=6)
    clips_per_shard: int = 64
    tflite_variants: tuple = ("float32",)

    def __post_init__(self):
        if self.clips_per_shard <= 0:
            raise ConfigError(f"clips_per_shard must be positive, got {self.clips_per_shard}")
        if "float32" not in self.tflite_variants:
            raise ConfigError(f"tflite_variants must include float32 (the demo tags with it), got {self.tflite_variants}")


@dataclasses.dataclass(frozen=True)
class SmallModelParams:
    """A small cnn_sam trained on synthetic clips (musictag_tf.demo.train_small_model): the model
    the quantized-TFLite checks score (tests/test_export.py, benchmarks/bench_int8.py).

    240 clips of 4 s, lyrics words seen once kept (64 tokens), a narrow cnn_sam on the whole 4 s
    clip, 12 epochs of every head.
    """

    data: SyntheticParams = SyntheticParams(num_clips=240, clip_seconds=4.0)
    lyrics: LyricsParams = LyricsParams(min_count=1, max_tokens=64)
    model: ModelParams = ModelParams(chunk_seconds=4.0, mel_filters=(16, 16, 32, 32), wave_filters=(16, 32, 32),
                                     text_filters=16, lstm_units=16, attention_hidden=16, fusion_units=32,
                                     dropout=0.2)
    train: TrainParams = TrainParams(epochs=12, batch_size=16, task="multi", learning_rate=3e-3,
                                     pos_weight=2.0, eval_chunks=4)
    clips_per_shard: int = 64
    workers: int = 2  # processes generating clips and building records
