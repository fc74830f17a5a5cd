#!/usr/bin/env bash
# Set up gridwatch on a fresh Debian machine: system packages, then .venv with the project.
#   bash scripts/setup.sh          the demo: Mosquitto, and .venv with gridwatch and its `dev` extra (no torch)
#   bash scripts/setup.sh --test   the test suite as well: VictoriaMetrics, the MQTT clients, curl, openssl,
#                                  PostgreSQL, Prometheus, Chromium and its driver, a CJK font, and the `train`
#                                  extra (torch, ultralytics: ~6 GB), because the tests train a model
# Safe to run again: it only does what is missing (a plain run after --test keeps what --test installed).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=demo
case "${1:-}" in
  "") ;;
  --test) mode=test ;;
  *) echo "usage: bash scripts/setup.sh [--test]" >&2; exit 2 ;;
esac

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
if [ "$mode" = test ]; then
  command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)
  # The end-to-end test speaks to dispatch and the broker with programs nobody here wrote.
  command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
  command -v curl >/dev/null 2>&1 || need_apt+=(curl)
  # The MQTT TLS test makes its own CA and broker certificate.
  command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
  # Dispatch replicas share a PostgreSQL; the tests start their own server with initdb/pg_ctl (no service).
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need_apt+=(postgresql)
  # The command-center page is tested in a real headless Chromium (Debian's, with its driver);
  # the CJK font draws the page's Chinese in the screenshots.
  command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
  command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
  [ -d /usr/share/fonts/opentype/noto ] || need_apt+=(fonts-noto-cjk)
  # The suite scrapes a real edge and dispatch with Prometheus and checks the alert rules with promtool (~9 s).
  command -v prometheus >/dev/null 2>&1 || need_apt+=(prometheus)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (Debian packages)"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq || true
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" \
    || echo "setup: could not install ${need_apt[*]}; the demo falls back to its embedded broker, the tests need them" >&2
  if [[ " ${need_apt[*]} " == *" prometheus "* ]] && [ -d /run/systemd/system ]; then
    # The package starts a system Prometheus on :9090 under systemd; the tests start their own on free ports.
    "${sudo_cmd[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
  fi
fi

python=${PYTHON:-python3}
stamp=.venv/.gridwatch-installed
hash=$(sha256sum pyproject.toml | cut -c1-16)
have=$(cat "$stamp" 2>/dev/null || true)  # "<hash> <extras>"
extras=dev
[ "$mode" = test ] && extras=dev,train
# What is there already and still current: the demo is content with a test install.
if [ "$have" = "$hash dev,train" ] || [ "$have" = "$hash $extras" ]; then
  echo "setup: ready (.venv/bin/gridwatch; extras ${have#* })"
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
echo "setup: installing gridwatch with its extras [$extras] into .venv"
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[$extras]"
if ! .venv/bin/python -c "import cv2" 2>/dev/null; then
  # ultralytics' opencv-python shares cv2/ with the headless build; where its GUI libraries are missing,
  # put the headless one back on top.
  echo "setup: restoring opencv-python-headless over opencv-python"
  .venv/bin/python -m pip install -q --force-reinstall --no-deps \
    "opencv-python-headless==$(.venv/bin/python -m pip show opencv-python-headless | sed -n 's/^Version: //p')"
fi
echo "$hash $extras" > "$stamp"
echo "setup: ready (.venv/bin/gridwatch; extras $extras)"
