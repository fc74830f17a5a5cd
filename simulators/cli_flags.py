"""The broker flags every simulator takes, spelled one way (`--broker`, `--topic-prefix`,
`--protocol`); the older spellings (`--mqtt`, `--prefix`, `--mqtt-protocol`) stay as aliases."""

from __future__ import annotations

import argparse


def add_broker_arguments(parser: argparse.ArgumentParser, protocol_help: str | None = None) -> None:
    """Sets args.broker, args.topic_prefix and args.protocol."""
    parser.add_argument("--broker", "--mqtt", dest="broker", default="mqtt://127.0.0.1:1883", metavar="URL",
                        help="broker (mqtt://host:port; --mqtt is the old spelling)")
    parser.add_argument("--topic-prefix", "--prefix", dest="topic_prefix", default="grid",
                        help="topic prefix (default: grid; --prefix is the old spelling)")
    parser.add_argument("--protocol", "--mqtt-protocol", dest="protocol", choices=("5", "3.1.1"), default="5",
                        help=protocol_help or 'MQTT version (default: 5; "3.1.1" for the embedded demo broker)')
