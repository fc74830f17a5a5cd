#!/bin/sh
# Sets the edge's and dispatch's broker accounts from the compose secret, then runs Mosquitto. Accounts of
# meters, cameras and elevator boxes added to /mosquitto/data/passwd (mosquitto_passwd -b) are kept.
set -eu
password="$(cat /run/secrets/GRIDWATCH_MQTT_PASSWORD)"
file=/mosquitto/data/passwd
[ -f "$file" ] || { touch "$file"; chmod 0600 "$file"; }
for user in edge-01 dispatch; do
  mosquitto_passwd -b "$file" "$user" "$password"
done
# As the image's own entrypoint does: Mosquitto drops to its user and must read and write its data.
chown -R mosquitto:mosquitto /mosquitto/data
exec mosquitto -c /mosquitto/config/mosquitto.conf
