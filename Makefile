# The two commands a newcomer needs are `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   := .venv
BIN    := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)

.PHONY: setup system-deps dev-cluster lint test test-fast demo bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

setup: $(VENV)/.installed system-deps

system-deps:
	bash scripts/install-system-deps.sh

# Builds (once per machine, cached under ~/.cache/canaria) the real Kubernetes control plane,
# etcd, kwok, Prometheus, kubectl and helm from their Go modules.
dev-cluster: setup
	canaria dev-cluster build

lint: setup
	ruff check .
	mypy
	lint-imports

test: setup dev-cluster lint
	pytest

# Unit tests only: no dev cluster.
test-fast: setup
	CANARIA_SKIP_CLUSTER=1 pytest -m "not cluster"

# Until `canaria demo` (the full rollout demo) lands: serve the bundled example model.
demo: setup
	@echo "serving examples/models/iris-v1.onnx on http://127.0.0.1:8080 (Ctrl-C stops); try:"
	@echo "  curl -s localhost:8080/predict -H 'content-type: application/json' \\"
	@echo "    -d '{\"features\": [5.1, 3.5, 1.4, 0.2]}'"
	canaria serve examples/models/iris-v1.onnx --host 127.0.0.1 --port 8080

bench: setup
	python bench/serving_bench.py

clean:
	canaria dev-cluster down || true
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
