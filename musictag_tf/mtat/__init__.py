"""MagnaTagATune (MTAT): published splits and labels, prediction files, scoring (core).

datasets.py     the published split, index and ground-truth files (Won 2020, Lee 2017, Pons)
predictions.py  read a predictions file (CSV/TSV, musictag tag JSON, .npy) and match clip ids
scoring.py      score against a published split; published results for context
The command line is ``musictag-evaluate --predictions``.
"""
