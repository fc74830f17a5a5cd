"""Sensor simulators: they speak the contract through ingest.wire only."""
