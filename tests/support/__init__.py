"""Helpers the tests share: builders for small stand-ins of the real things."""
