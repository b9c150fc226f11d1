# vision_sparse: two commands for users.
#   make demo   create .venv if missing, install, build the ops, run every demo -> work_dirs/demo/
#   make test   create .venv if missing, install, build the ops, run the whole test suite
#   make app    the interactive web app on http://127.0.0.1:7860 (APP_ARGS='--port 8000')
# Other targets: install, ops, bench, clean.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
STAMP := $(VENV)/.vision_sparse_installed

# CUDA kernels are compiled whenever nvcc is present (even without a GPU, so that a
# CUDA compile error is caught here).  VS_CUDA=0 skips them, VS_CUDA=1 requires them.
# The toolkit's own nvcc is preferred over a wrapper on PATH (/usr/local/bin/nvcc here), so
# that CUDA_HOME is the real toolkit folder (torch would otherwise guess /usr/local and fail
# to link -lcudart).  Set CUDA_HOME to choose another toolkit.
NVCC := $(firstword $(wildcard $(CUDA_HOME)/bin/nvcc /usr/local/cuda/bin/nvcc) \
          $(shell command -v nvcc 2>/dev/null))
VS_CUDA ?= $(if $(NVCC),1,0)
CUDA_HOME ?= $(if $(NVCC),$(patsubst %/bin/nvcc,%,$(NVCC)),)
TORCH_CUDA_ARCH_LIST ?= 9.0+PTX
MAX_JOBS ?= 2
PYTEST_ARGS ?= -q -ra

.PHONY: install ops test demo app bench clean

$(STAMP): setup.cfg setup.py pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel ninja
	$(PIP) install -e ".[all]"
	# the nuScenes devkit (only its detection evaluation, which tests cross-check ours
	# against) pins numpy<2: installed without its dependencies, plus the few it imports
	$(PIP) install -q --no-deps nuscenes-devkit==1.2.0 pyquaternion scikit-learn joblib \
	  threadpoolctl cloudpickle cachetools
	touch $@

install: $(STAMP)

# Builds vision_sparse/_C*.so in place (incremental; forced when the CPU/CUDA mode changes).
ops: $(STAMP)
	@mode=cpu; [ "$(VS_CUDA)" = "1" ] && mode=cuda; \
	prev=$$(cat $(VENV)/.vision_sparse_ops_mode 2>/dev/null); force=""; \
	[ "$$prev" = "$$mode" ] || force="--force"; \
	echo "building vision_sparse ops ($$mode kernels) $$force"; \
	if [ "$$mode" = "cuda" ]; then \
	  CUDA_HOME=$(CUDA_HOME) FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$(TORCH_CUDA_ARCH_LIST)" \
	    MAX_JOBS=$(MAX_JOBS) $(PY) setup.py -q build_ext --inplace $$force || exit 1; \
	else \
	  MAX_JOBS=$(MAX_JOBS) $(PY) setup.py -q build_ext --inplace $$force || exit 1; \
	fi; \
	echo $$mode > $(VENV)/.vision_sparse_ops_mode
	@$(PY) -c "from vision_sparse.ops import ext_status; print(ext_status())"

test: ops
	@$(PY) -m pytest tests $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests (exit 5)"; exit 0; fi; exit $$rc

demo: ops
	$(PY) demo/run_all.py --out work_dirs/demo

app: ops
	$(PY) demo/app.py $(APP_ARGS)

bench: ops
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf build vision_sparse/_C*.so $(VENV)/.vision_sparse_ops_mode
