"""``musictag tag``: files -> windows -> scores -> JSON / CSV / taggram PNG.

backends.py  load_tagger: SavedModel, TFLite (export.tflite.WindowRunner) or a training run
inputs.py    audio files under the given paths, lyrics per file
tagger.py    ClipTags, tag_file / tag_paths (decode, window, run, average; failures collected)
outputs.py   JSON and CSV
plot.py      taggram PNGs
cli.py       the command's flags and main
"""
