# syntax=docker/dockerfile:1.7
# One image for every Canaria role:
#   canaria operator | canaria serve | canaria route | canaria fetch
# Build:  docker build -t canaria:dev .
# Other base: docker build --build-arg PYTHON_IMAGE=python:3.12-slim-bookworm -t canaria:dev .
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- stage 1: build the wheel and every dependency wheel -------------------------------------
FROM ${PYTHON_IMAGE} AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m pip install --upgrade pip build
COPY pyproject.toml README.md ./
COPY serving/src serving/src
COPY operator/src operator/src
RUN python -m build --wheel --outdir /dist . \
 && python -m pip wheel --wheel-dir /dist /dist/canaria-*.whl

# ---- stage 2: runtime, no compilers, non-root ------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN --mount=type=bind,from=build,source=/dist,target=/dist \
    python -m pip install --no-index --find-links=/dist canaria \
 && groupadd --system --gid 10001 canaria \
 && useradd --system --uid 10001 --gid canaria --home-dir /nonexistent --no-create-home canaria \
 && mkdir -p /models && chown canaria:canaria /models
USER 10001:10001
WORKDIR /home/canaria
EXPOSE 8080
ENTRYPOINT ["canaria"]
CMD ["--help"]
