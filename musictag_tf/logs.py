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


def show_flags_in_help(module_name: str) -> None:
    """List ``module_name``'s flags under ``--help``/``--helpshort`` of the running script.

    absl shows the flags of the main module only; behind a console script (``musictag-train``,
    ``musictag demo``) the main module is the setuptools wrapper, so --help listed nothing.
    """
    import sys

    from absl import flags
    for flag in flags.FLAGS.get_key_flags_for_module(module_name):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
