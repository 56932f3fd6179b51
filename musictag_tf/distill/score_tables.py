"""Agreement of two taggers on your own music: two score tables -> the teacher-agreement table.

    musictag tag music/ --model=mtt_musicnn --format=csv --output=teacher.csv
    musictag tag music/ --model=cnn_sam_distilled --format=csv --output=student.csv
    python -m musictag_tf.distill.score_tables --teacher=teacher.csv --student=student.csv

Both tables are ``musictag tag --format=csv`` output (``path`` + one column per MTAT tag; rows
``<file>`` or, with ``--clip_seconds``, ``<file>#<start>``). Rows are matched by that key; a row
in only one table is an error naming how many and the first ones. The measures are
musictag_tf.distill.agreement's (ROC-AUC / PR-AUC against the teacher binarised at 0.5 on tags
with >= ``--min_positives`` positives, per-clip and per-tag Pearson r, top-5 overlap).
"""

from __future__ import annotations

import sys
from typing import Sequence, Tuple

import numpy as np

from musictag_tf.distill import agreement as agreement_lib
from musictag_tf.errors import DatasetError
from musictag_tf.mtat import datasets as mtat
from musictag_tf.mtat.predictions import read_predictions

SHOW_UNMATCHED = 3


def aligned_scores(teacher_csv: str, student_csv: str, tags: Sequence[str] = mtat.TOP50_TAGS
                   ) -> Tuple[list, np.ndarray, np.ndarray]:
    """(keys, teacher [clips, tags], student [clips, tags]) over the rows both tables hold, in the
    teacher's order. DatasetError when a row is in one table only."""
    t_keys, teacher = read_predictions(teacher_csv, tags)
    s_keys, student = read_predictions(student_csv, tags)
    s_index = {k: i for i, k in enumerate(s_keys)}
    only_teacher = [k for k in t_keys if k not in s_index]
    only_student = sorted(set(s_keys) - set(t_keys), key=str)
    for name, keys in ((teacher_csv, only_teacher), (student_csv, only_student)):
        if keys:
            raise DatasetError(f"{name}: {len(keys)} rows have no match in the other table "
                               f"(first: {', '.join(map(str, keys[:SHOW_UNMATCHED]))})")
    return list(t_keys), teacher, student[[s_index[k] for k in t_keys]]


def main(argv) -> int:
    from absl import flags

    from musictag_tf import errors
    fv = flags.FLAGS
    if len(argv) > 1:
        return errors.report("score_tables", errors.FlagError("arguments", f"unexpected {argv[1:]}"))
    try:
        keys, teacher, student = aligned_scores(fv.teacher, fv.student)
        params = agreement_lib.AgreementParams(min_positives=fv.min_positives)
        result = agreement_lib.agreement(student, teacher, list(mtat.TOP50_TAGS), params)
    except (errors.MusictagError, OSError) as exc:
        return errors.report("score_tables", exc)
    print(agreement_lib.markdown_table({fv.label: result}, f"Agreement with the teacher ({len(keys)} rows)", params))
    print(f"tags scored: {', '.join(result.scored_tags) or 'none'}")
    return 0


def run() -> None:
    from absl import app, flags
    flags.DEFINE_string("teacher", None, "The teacher's score table (musictag tag --format=csv).")
    flags.DEFINE_string("student", None, "The student's score table, same rows.")
    flags.DEFINE_string("label", "student", "Row label in the printed table.")
    flags.DEFINE_integer("min_positives", agreement_lib.AgreementParams().min_positives,
                         "Teacher positives (>= 0.5) a tag needs to be scored by ROC-AUC / PR-AUC.")
    flags.mark_flags_as_required(["teacher", "student"])
    app.run(lambda argv: sys.exit(main(argv)))


if __name__ == "__main__":
    run()
