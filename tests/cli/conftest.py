"""Fixtures for the command-line tests: `daemons` (a real `serve` per call, killed at
teardown) is the producer tests' own, from tests/sources/sourcekit.py."""

from sourcekit import daemons  # noqa: F401 (a fixture for this directory)
