# deepprune: two set-up commands on a fresh machine
#   make demo   installs into .venv and runs the main job on the bundled example
#   make test   installs into .venv and runs the test suite
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.deepprune-installed

.PHONY: install demo test bench clean

install: $(STAMP)

# torch is installed first and pinned (constraints.txt) so nothing pulls the CUDA wheels.
# The C extension (deepprune_cli/core/*.c) is compiled by the editable install: a changed source
# reinstalls.
$(STAMP): setup.cfg setup.py constraints.txt deepprune_cli/__init__.py $(wildcard deepprune_cli/core/*.c)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c constraints.txt torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[test]'
	touch $(STAMP)

demo: install
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" bash examples/demo.sh demo_out

test: install
	$(PY) -m pytest -q -p no:cacheprovider tests

bench: install
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(VENV) demo_out bench_out *.egg-info build deepprune_cli/core/*.so
