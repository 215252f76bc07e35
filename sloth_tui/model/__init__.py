"""Records, errors, stats and the filter language: the leaf every package may import.

Nothing here imports the rest of sloth_tui (tests/test_imports.py checks it).
"""
