"""The edge's elevator pipeline: camera frames -> detector -> e-bike rule -> door linkage, alerts, evidence."""
