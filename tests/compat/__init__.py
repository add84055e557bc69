"""Compatibility with the Graflow 0.2 public API."""
