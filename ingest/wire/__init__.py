"""Wire formats: everything that crosses MQTT or HTTP is defined once, here.

Simulators, the edge and dispatch import these modules and nothing else of ingest
to speak the contract of ARCHITECTURE.md.
"""
