#!/usr/bin/env bash
# Set up gridwatch on a fresh Debian machine: system packages, then .venv with the project.
# Safe to run again: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need_apt+=(mosquitto)
command -v victoria-metrics >/dev/null 2>&1 || need_apt+=(victoria-metrics)
# The end-to-end test speaks to dispatch and the broker with programs nobody here wrote.
command -v mosquitto_sub >/dev/null 2>&1 || need_apt+=(mosquitto-clients)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# Dispatch replicas share a PostgreSQL; the tests start their own server with initdb/pg_ctl (no service).
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null 2>&1 || need_apt+=(postgresql)
# The command-center page is tested in a real headless Chromium (Debian's, with its driver);
# the CJK font draws the page's Chinese in the screenshots.
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need_apt+=(chromium-driver)
[ -d /usr/share/fonts/opentype/noto ] || need_apt+=(fonts-noto-cjk)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} (Debian packages)"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq || true
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need_apt[@]}" \
    || echo "setup: could not install ${need_apt[*]}; the demo falls back to its embedded broker, the tests need them" >&2
fi

python=${PYTHON:-python3}
stamp=.venv/.gridwatch-installed
want=$(sha256sum pyproject.toml | cut -c1-16)
if [ ! -x .venv/bin/python ]; then
  "$python" -m venv .venv
fi
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "setup: installing gridwatch and its dependencies into .venv"
  .venv/bin/python -m pip install -q --upgrade pip
  # `train` (torch, ultralytics: about 6 GB) is for `gridwatch model` and its tests; an edge box can do
  # `pip install .` alone.
  .venv/bin/python -m pip install -q -e '.[dev,train]'
  if ! .venv/bin/python -c "import cv2" 2>/dev/null; then
    # ultralytics' opencv-python shares cv2/ with the headless build; where its GUI libraries are missing,
    # put the headless one back on top.
    echo "setup: restoring opencv-python-headless over opencv-python"
    .venv/bin/python -m pip install -q --force-reinstall --no-deps \
      "opencv-python-headless==$(.venv/bin/python -m pip show opencv-python-headless | sed -n 's/^Version: //p')"
  fi
  echo "$want" > "$stamp"
fi
echo "setup: ready (.venv/bin/gridwatch)"
