# One image for every Canaria role:
#   canaria operator | canaria serve | canaria route | canaria fetch
# Build:  docker build -t canaria:dev .
# Other base: docker build --build-arg PYTHON_IMAGE=python:3.12-slim-bookworm -t canaria:dev .
# Offline machines (the dev cluster): `canaria dev-cluster image` builds this same file on a
# Python base made from Debian's packages (see README, "The image").
#
# No `# syntax=` line: BuildKit's built-in Dockerfile frontend runs it, so nothing is fetched
# from a registry but the base image.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- stage 1: every wheel: dependencies (cached until pyproject.toml changes), then ours ----
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml ./
RUN --mount=type=cache,target=/root/.cache/pip \
    python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /requirements.txt \
 && python -m pip wheel --wheel-dir /deps -r /requirements.txt \
 && python -m pip install build hatchling
COPY README.md ./
COPY serving/src serving/src
COPY operator/src operator/src
RUN python -m build --wheel --no-isolation --outdir /dist .

# ---- stage 2: runtime, no compilers, non-root ------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # The pods' root filesystem is read-only and /tmp is their emptyDir: a writable HOME
    HOME=/tmp
# The dependencies: one layer that changes only with pyproject.toml.
RUN --mount=type=bind,from=build,source=/deps,target=/deps \
    --mount=type=bind,from=build,source=/requirements.txt,target=/requirements.txt \
    python -m pip install --no-index --find-links=/deps -r /requirements.txt
# Canaria itself: a small layer.
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    python -m pip install --no-index --no-deps /dist/canaria-*.whl \
 && groupadd --system --gid 65532 canaria \
 && useradd --system --uid 65532 --gid canaria --home-dir /tmp --no-create-home canaria \
 && mkdir -p /models && chown canaria:canaria /models
# 65532 = the runAsUser of every pod the chart and the operator create (contract.RUN_AS_UID).
USER 65532:65532
WORKDIR /tmp
EXPOSE 8080
ENTRYPOINT ["canaria"]
CMD ["--help"]
