"""The grid dispatch endpoint: alert store, routing, push, feed, lifecycle."""
