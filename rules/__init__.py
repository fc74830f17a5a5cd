"""Stateful alert rules on event time, and the alert episode model."""
