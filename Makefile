# The two commands a user needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BUNDLE := tb_lr_plugin/static/index.js
DEMO_LOGDIR ?= logs/demo
PORT ?= 6006
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: demo test test-py test-js test-backends lint bench soak build clean install

# torch first, the CPU file pinned in requirements-dev.txt: what needs torch
# (Lightning, transformers) then finds it instead of pulling a CUDA build.
$(VENV)/.deps: requirements-dev.txt requirements-nodeps.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade "pip>=24" "setuptools>=70" wheel
	$(PY) -m pip install -q "$$(grep '^torch==' requirements-dev.txt)"
	$(PY) -m pip install -q -r requirements-dev.txt
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $@

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

$(BUNDLE): frontend/node_modules/.package-lock.json $(shell find frontend/src -type f 2>/dev/null) frontend/build.mjs
	cd frontend && npm run build

build: $(BUNDLE)

# Bytecode compiled, as a wheel's install compiles it: an editable install
# leaves that to the first import, which PYTHONDONTWRITEBYTECODE=1 (set on CI
# machines) turns off, and then every process compiles the package from
# source (60-70 ms of each `tb-lr-audit`).
$(VENV)/.installed: $(VENV)/.deps setup.py $(BUNDLE)
	$(PY) -m pip install -q --no-deps -e .
	$(PY) -m compileall -q tb_lr_plugin callbacks
	touch $@

install: $(VENV)/.installed

demo: install
	$(PY) examples/run_all.py --logdir $(DEMO_LOGDIR)
	@echo "Open http://127.0.0.1:$(PORT)/#learning_rate"
	$(VENV)/bin/tensorboard --logdir $(DEMO_LOGDIR) --host 127.0.0.1 --port $(PORT)

lint: $(VENV)/.deps frontend/node_modules/.package-lock.json
	$(VENV)/bin/ruff check .
	cd frontend && npm run --silent format-check

test-py: install
	$(VENV)/bin/pytest

# The callback tests again: on the oldest Keras 3 release supported (with
# TensorFlow), and under Keras's other backends (TensorFlow blocked).
CALLBACK_TESTS := tests/test_learning_rate_logger.py tests/test_reduce_lr_on_plateau.py \
	tests/test_plateau_scheduled.py tests/test_learning_rate_finder.py \
	tests/test_callbacks_robustness.py tests/test_faults_disk.py tests/test_faults_shared_logdir.py
TF_CALLBACK_TESTS := $(CALLBACK_TESTS) tests/test_learning_rate_scheduler.py tests/test_faults_kill.py
KERAS_FLOOR := 3.5.0
FLOOR_VENV := .venv-keras-$(KERAS_FLOOR)

# A venv of Keras $(KERAS_FLOOR) alone, layered (a .pth) over $(VENV) and this
# checkout: seconds to build, one small download.
$(FLOOR_VENV)/.ready: $(VENV)/.installed
	rm -rf $(FLOOR_VENV)
	$(PYTHON) -m venv --without-pip $(FLOOR_VENV)
	$(FLOOR_VENV)/bin/python -c 'import site; print(site.getsitepackages()[0])' > $(FLOOR_VENV)/.site
	$(PY) -c 'import sys; print("\n".join(["$(CURDIR)"] + [p for p in sys.path if p.endswith("site-packages")]))' \
		> $$(cat $(FLOOR_VENV)/.site)/zz_layer.pth
	$(PY) -m pip --python $(FLOOR_VENV)/bin/python install -q --no-deps keras==$(KERAS_FLOOR)
	ln -sf $(CURDIR)/$(VENV)/bin/tensorboard $(FLOOR_VENV)/bin/tensorboard
	touch $@

# (tf_keras is the same in the floor venv: its tests run once, in `test-py`.)
test-backends: install $(FLOOR_VENV)/.ready
	$(FLOOR_VENV)/bin/python -m pytest $(TF_CALLBACK_TESTS) -k "not tf_keras"
	KERAS_BACKEND=jax $(VENV)/bin/pytest $(CALLBACK_TESTS)
	KERAS_BACKEND=torch $(VENV)/bin/pytest $(CALLBACK_TESTS)

test-js: frontend/node_modules/.package-lock.json
	cd frontend && npm test

test: install lint test-js test-py test-backends

bench: install
	$(PY) bench/run.py

# 10 minutes of training while 4 clients poll every route (not in `make test`).
soak: install
	$(PY) bench/soak.py

clean:
	rm -rf $(VENV) .venv-keras-* frontend/node_modules tb_lr_plugin/static build *.egg-info logs test-artifacts
