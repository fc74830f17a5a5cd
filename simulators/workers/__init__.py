"""Simulated grid workers' phones: they take dispatched alerts from MQTT and answer through the dispatch API."""
