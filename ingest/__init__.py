"""Ingest: MQTT client, topic routing, payload decoding, dead letters, time-series writers."""
