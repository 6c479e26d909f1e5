# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup system-deps dev-cluster image lint test test-fast demo serve-example bench clean

$(VENV)/.installed: pyproject.toml devtools/pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]' -e ./devtools
	touch $@

setup: $(VENV)/.installed system-deps

system-deps:
	bash scripts/install-system-deps.sh

# Builds (once per machine, cached under ~/.cache/canaria) the real Kubernetes control plane,
# etcd, kwok, Prometheus, kubectl and helm from their Go modules.
dev-cluster: setup
	canaria dev-cluster build

# The project's image from the Dockerfile, on a Python base made from Debian's packages (no
# registry needed); loaded into the dev cluster's node when one is up.
image: setup system-deps
	canaria dev-cluster image

lint: setup
	ruff check .
	mypy
	lint-imports

test: setup dev-cluster lint
	pytest

# Unit tests only: no dev cluster.
test-fast: setup
	CANARIA_SKIP_CLUSTER=1 pytest -m "not cluster"

# The main job: dev cluster, operator, v1 -> good v2 promoted -> bad v3 rolled back, live.
demo: setup system-deps
	canaria demo

# Just the model server on the bundled example model (no cluster).
serve-example: setup
	canaria serve examples/models/iris-v1.onnx --host 127.0.0.1 --port 8080

bench: setup
	python bench/serving_bench.py

clean:
	canaria dev-cluster down || true
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
