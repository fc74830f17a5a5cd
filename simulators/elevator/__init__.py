"""Elevator cameras and boxes: rides of JPEG frames with door status and ground truth, published over MQTT."""
