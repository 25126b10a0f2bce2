"""Guided-audio practice player: session scripts become spoken, breath-timed audio."""

__version__ = "0.1.0"
