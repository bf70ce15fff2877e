"""Helpers of the EDIFACT tests: the third-party samples, read as they are."""

from __future__ import annotations

from pathlib import Path

SAMPLES = Path(__file__).parents[2] / "fixtures" / "third_party" / "edifact"
GOLDEN = Path(__file__).parents[2] / "fixtures" / "edi_golden" / "edifact"


def sample(name: str) -> str:
    """A sample's text. The samples are ASCII; latin-1 reads any byte UNOC allows."""
    return (SAMPLES / name).read_text(encoding="latin-1")
