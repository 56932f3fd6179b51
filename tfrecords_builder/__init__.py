"""Offline builder: a music collection (MTAT tree or any tagged table, optional lyrics and
emotion labels) -> sharded TFRecords + manifest, locally or as an Apache Beam pipeline.

See build.py (orchestration), sources.py, process.py (per clip), writer.py, beam_pipeline.py
and synthetic/ (the embedded synthetic dataset)."""
