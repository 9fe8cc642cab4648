"""Probing helpers."""
