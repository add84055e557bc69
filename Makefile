# Two commands set up and check a fresh machine that has only `python3`:
#   make demo   - core install in .venv, then run examples/showcase.py
#   make test   - development install in .venv, then the whole suite (static checks included, see docs/development.md)
#
# The virtualenv is created once. Installs are skipped while pyproject.toml and the interpreter stay the same: a stamp
# file named after their hash records what .venv already holds, so a re-run goes straight to the work.

PYTHON ?= python3
VENV ?= .venv
VENV_PY := $(VENV)/bin/python
# The venv is made without a pip of its own (ensurepip is the slowest step of a cold start); this interpreter's pip
# (`pip --python`) installs uv into it, and uv installs the project, several times faster than pip on a cold cache.
# Where uv cannot be had, pip installs everything; where python3 has no pip, the venv gets its own.
pip = if [ -x $(VENV)/bin/pip ]; then $(VENV_PY) -m pip $(1); \
	else $(PYTHON) -m pip --python $(VENV_PY) $(1); fi
install = if $(VENV_PY) -m uv --version >/dev/null 2>&1; \
	then $(VENV_PY) -m uv pip install --quiet --python $(VENV_PY) $(1); \
	else $(call pip,install --disable-pip-version-check --progress-bar off --quiet $(1)); fi
PYTEST_ARGS ?=

# Hash of pyproject.toml plus the interpreter version: a change to either re-runs the install steps.
DEPS_HASH := $(shell $(PYTHON) -c "import hashlib, sys; h = hashlib.sha256(open('pyproject.toml', 'rb').read()); h.update(sys.version.encode()); print(h.hexdigest()[:16])")
CORE_STAMP := $(VENV)/.installed-core-$(DEPS_HASH)
DEV_STAMP := $(VENV)/.installed-dev-$(DEPS_HASH)

.DEFAULT_GOAL := help
.PHONY: help demo test lint venv dev clean

help:
	@echo "make demo   install the core package into $(VENV) and run examples/showcase.py"
	@echo "make test   install graflow[dev] into $(VENV) and run ruff, mypy, import-linter, the module size check and pytest"
	@echo "make lint   only the static checks (a subset of make test)"
	@echo "make clean  remove $(VENV) and tool caches"
	@echo "Pass pytest options with PYTEST_ARGS, e.g. make test PYTEST_ARGS='-m \"not redis\" -x'"

$(VENV_PY):
	@if $(PYTHON) -m pip --version >/dev/null 2>&1; then \
		echo "$(PYTHON) -m venv --without-pip $(VENV)"; $(PYTHON) -m venv --without-pip $(VENV); \
	else echo "$(PYTHON) -m venv $(VENV)"; $(PYTHON) -m venv $(VENV); fi
	@$(call pip,install --disable-pip-version-check --progress-bar off --quiet 'uv>=0.5') \
		|| echo "uv could not be installed; pip installs the project instead (slower)"

$(CORE_STAMP): | $(VENV_PY)
	@echo "Installing graflow (core) into $(VENV) ..."
	@$(call install,-e .)
	@rm -f $(VENV)/.installed-core-*
	@touch $@

$(DEV_STAMP): | $(VENV_PY)
	@echo "Installing graflow[dev] into $(VENV) ..."
	@$(call install,-e '.[dev]')
	@rm -f $(VENV)/.installed-*
	@touch $@ $(CORE_STAMP)

venv: $(CORE_STAMP)
dev: $(DEV_STAMP)

demo: $(CORE_STAMP)
	@test -f examples/showcase.py || { \
		echo "make demo: examples/showcase.py does not exist in this checkout, so there is no demo to run." >&2; \
		exit 1; }
	$(VENV_PY) examples/showcase.py

test: $(DEV_STAMP)
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

lint: $(DEV_STAMP)
	$(VENV_PY) -m pytest -m static $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .import_linter_cache
