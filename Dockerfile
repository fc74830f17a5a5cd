# The gridwatch image: the edge worker and the dispatch endpoint (`gridwatch edge ...` / `gridwatch dispatch ...`).
# `pip install .` only: ONNX Runtime and headless OpenCV for the e-bike detector, no torch (training stays on a
# workstation: the `train` extra). Build: docker build -t gridwatch:0.1.0 .
# Not built in this repository's CI (no container engine there): tests/deploy/test_manifests.py checks that the
# files it copies exist and that it installs no extra.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN groupadd --system --gid 10001 gridwatch \
 && useradd --system --uid 10001 --gid gridwatch --home-dir /var/lib/gridwatch --create-home gridwatch

WORKDIR /opt/gridwatch/src
COPY pyproject.toml README.md ./
COPY ingest/ ingest/
COPY models/ models/
COPY rules/ rules/
COPY edge/ edge/
COPY dispatch/ dispatch/
COPY simulators/ simulators/
RUN pip install . \
 && python -c "import onnxruntime, cv2, prometheus_client, edge.cli, dispatch.app" \
 && if python -c "import torch" 2>/dev/null; then echo "torch must not be in the edge image" >&2; exit 1; fi
# The bundled e-bike model with its cards (a decision card and crop verifier when there are): not package data,
# so copied beside each other; configs point elevator.model at /opt/gridwatch/models/ebike.onnx.
COPY models/weights/*.onnx models/weights/*.json /opt/gridwatch/models/

USER 10001:10001
WORKDIR /var/lib/gridwatch
# 8600: dispatch (API, page, feed, /healthz, /status, /metrics); 8610: the edge's /healthz, /status, /metrics.
EXPOSE 8600 8610
ENTRYPOINT ["gridwatch"]
CMD ["edge", "--config", "/etc/gridwatch/edge.yaml"]
