# CPU image of the OCR service (the default). Build from the repository root:
#
#   docker build -t ocr-service .
#   docker run --rm -p 8000:8000 --read-only --tmpfs /tmp --cap-drop ALL \
#       --security-opt no-new-privileges ocr-service
#
# Multi-stage: the builder makes a virtualenv under /opt/ocr/venv and pulls every model set of
# the catalogue into /opt/ocr/models, each file checked against its pinned sha256 (nothing is
# downloaded when the container starts); the runtime stage copies /opt/ocr onto a fresh base and
# runs as the unprivileged user 10001. Only /tmp needs to be writable (multipart spooling).
#
# BASE_IMAGE must provide `python3` (>= 3.11) with the venv module; both stages use it so the
# virtualenv's interpreter path is the same. CI passes a local Debian bookworm base made with
# debootstrap (docker/ci/make_base.sh); users keep the default. See docker/README.md.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    PATH=/opt/ocr/venv/bin:${PATH}

WORKDIR /src
RUN python3 -m venv /opt/ocr/venv

# Dependencies first (their own layer: rebuilt only when pyproject.toml changes). OCR_EXTRAS
# adds optional extras, e.g. --build-arg OCR_EXTRAS=openvino for OCR_ENGINE=openvino (the bf16
# configuration measured fastest on CPUs with native bf16; docs/benchmarks.md).
ARG OCR_EXTRAS=""
COPY pyproject.toml ./
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; extras = [e for e in os.environ.get('OCR_EXTRAS', '').split(',') if e]; print('\n'.join(p['dependencies'] + [r for e in extras for r in p['optional-dependencies'][e]]))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir --prefer-binary -r /tmp/requirements.txt

COPY README.md ./
COPY service ./service
COPY models ./models
RUN pip install --no-cache-dir --no-deps . \
    && pip check

# Bake every catalogue model set in, sha256-verified at build time; the runtime never fetches.
ENV OCR_MODEL_DIR=/opt/ocr/models
RUN ocr models pull --all \
    && ocr models verify --all \
    && chmod -R a+rX,go-w /opt/ocr/models

# The runtime needs neither pip nor setuptools (the models are already in); compile the rest
# now, because the read-only container cannot write __pycache__ later.
RUN pip uninstall --yes pip setuptools wheel \
    && python -m compileall -q /opt/ocr/venv/lib > /dev/null

FROM ${BASE_IMAGE} AS runtime

ARG OCR_UID=10001
RUN groupadd --gid "${OCR_UID}" ocr \
    && useradd --no-log-init --uid "${OCR_UID}" --gid ocr \
        --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ocr

COPY --from=builder /opt/ocr /opt/ocr

ENV PATH=/opt/ocr/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    ORT_DISABLE_TELEMETRY=1 \
    OCR_HOST=0.0.0.0 \
    OCR_PORT=8000 \
    OCR_MODEL_DIR=/opt/ocr/models \
    OCR_LOG_JSON=true

LABEL org.opencontainers.image.title="ocr-service" \
      org.opencontainers.image.description="PP-OCR det -> cls -> rec behind a REST/JSON API (CPU)" \
      org.opencontainers.image.licenses="Apache-2.0"

WORKDIR /opt/ocr
USER ${OCR_UID}:${OCR_UID}
EXPOSE 8000
STOPSIGNAL SIGTERM
# Liveness only (no inference); /readyz is for the orchestrator's readiness probe. No proxy:
# an HTTP(S)_PROXY in the environment must not capture a loopback request.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; u.build_opener(u.ProxyHandler({})).open('http://127.0.0.1:%s/livez' % os.environ.get('OCR_PORT', '8000'), timeout=4)"]
CMD ["ocr", "serve"]
