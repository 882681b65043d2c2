"""Normalize: raw events to canonical buffer-object operations, driven by driver profiles."""

from tracekit.normalize.core import Normalized, normalize
from tracekit.normalize.profiles import Profile, load_profiles

__all__ = ["Normalized", "Profile", "load_profiles", "normalize"]
