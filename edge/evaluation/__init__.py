"""Scoring of detectors and rules against labelled data (`gridwatch eval ...`)."""
