"""``musictag <command> [flags] [arguments]``: one entry point for the user-facing commands.

    musictag demo [--out_dir=demo_out]
    musictag tag song.mp3 [--model=mtt_musicnn|msd_musicnn|mtt_vgg|msd_vgg|EXPORT|RUN_DIR] [--embeddings]
    musictag models

Each command lives in its own module exposing ``define_flags()`` (absl flags) and
``main(argv) -> int`` (``argv[1:]`` are the positional arguments); this module only dispatches,
so ``musictag <command> --help`` lists exactly that command's flags.
"""

from __future__ import annotations

import importlib
import sys
from typing import Dict, Optional, Sequence, Tuple

# command -> (module, one-line description)
COMMANDS: Dict[str, Tuple[str, str]] = {
    "demo": ("musictag_tf.demo", "synthetic data -> records -> train + compare variants -> export -> tag"),
    "tag": ("musictag_tf.tag.cli", "tag audio files/folders (default: the shipped MTT musicnn; or a "
                                   "shipped name, SavedModel, .tflite or model_dir)"),
    "models": ("musictag_tf.tag.models", "list the pretrained models shipped with musictag"),
}


def usage() -> str:
    lines = ["usage: musictag <command> [flags] [arguments]", "", "commands:"]
    lines += [f"  {name:10s} {description}" for name, (_, description) in COMMANDS.items()]
    lines += ["", "musictag <command> --help lists a command's flags."]
    return "\n".join(lines)


def run(argv: Optional[Sequence[str]] = None) -> None:
    """Console-script entry point (setup.cfg: ``musictag = musictag_tf.cli:run``)."""
    from absl import app

    argv = list(sys.argv if argv is None else argv)
    if len(argv) < 2 or argv[1] in ("-h", "--help", "help"):
        print(usage())
        raise SystemExit(0 if len(argv) >= 2 else 2)
    command = argv[1]
    if command not in COMMANDS:
        print(f"musictag: unknown command {command!r}\n\n{usage()}", file=sys.stderr)
        raise SystemExit(2)
    module = importlib.import_module(COMMANDS[command][0])
    module.define_flags()
    from musictag_tf.logs import show_flags_in_help
    show_flags_in_help(module.__name__)
    app.run(lambda args: sys.exit(module.main(args)), argv=[f"{argv[0]} {command}"] + argv[2:])


if __name__ == "__main__":
    run()
