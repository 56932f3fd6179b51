"""Distillation of a pretrained teacher (MTT musicnn) into the paper's models (issue 13).

agreement.py: student-vs-teacher metrics; teacher.py: per-clip teacher scores (CSV);
compare.py: the comparison table of student runs against the teacher.
"""
