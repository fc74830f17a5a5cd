#!/bin/sh
# Writes random tokens for deploy/compose.yaml into deploy/compose/secrets/ (git-ignored), once; existing
# files are kept. The command center's URL takes the operator token: http://HOST:8600/#token=<it>.
set -eu
cd "$(dirname "$0")"
# The folder is private (0700); the files 0644, because Compose bind-mounts them as they are and the containers
# run as other users (gridwatch 10001, mosquitto).
mkdir -p secrets
chmod 0700 secrets
umask 022
for name in GRIDWATCH_TOKEN GRIDWATCH_OPERATOR_TOKEN GRIDWATCH_MQTT_PASSWORD; do
  [ -s "secrets/$name" ] || od -An -N24 -tx1 /dev/urandom | tr -d ' \n' > "secrets/$name"
done
echo "secrets in $(pwd)/secrets"
