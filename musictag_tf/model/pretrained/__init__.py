"""Pretrained musicnn models (Pons & Serra 2019), converted from the musicnn 0.1.0 checkpoints.

``registry.load_pretrained(name)`` builds one; ``convert`` regenerates the shipped files.
"""
