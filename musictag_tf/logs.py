"""Console noise control for the command-line tools."""

from __future__ import annotations

import os


def quiet_tf_logging() -> None:
    """Keep TensorFlow's and absl's INFO chatter (checkpoint sharding, SavedModel renames) off
    the console unless the user asked for it with --verbosity or TF_CPP_MIN_LOG_LEVEL."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from absl import flags, logging
    if "verbosity" in flags.FLAGS and flags.FLAGS["verbosity"].present:
        return
    logging.set_verbosity(logging.WARNING)
