"""Helpers shared by more than one connector (capture files, metrics)."""
