"""Detectors and model files (vision in a later issue; household usage profiles)."""
