"""The edge worker: wiring, durable outbox, dispatch client, health, the `gridwatch` CLI."""
