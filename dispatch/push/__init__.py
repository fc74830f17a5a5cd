"""Push to grid workers: each dispatched alert to the worker's phone (MQTT `grid/workers/{id}/notify`,
QoS 1) and to their external channels in the registry (apprise), at least once.

config.py (PushConfig) · base.py (the Channel interface) · mqtt_notify.py and apprise_channel.py (the
two channels) · text.py (the words an SMS says) · ledger.py (push.sqlite) · schedule.py (order and
backoff) · pusher.py (follows the event log, wires it together).
"""

from __future__ import annotations

from typing import Any

from dispatch.push.config import PushConfig

__all__ = ["PushConfig", "Pusher"]


def __getattr__(name: str) -> Any:
    # Lazily: dispatch.config imports PushConfig, and `gridwatch check` should not pay for apprise and paho.
    if name == "Pusher":
        from dispatch.push.pusher import Pusher

        return Pusher
    raise AttributeError(name)
