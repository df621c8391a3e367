# The two commands: `make demo` and `make test`. Everything they need is set
# up here, so a clean clone on a fresh machine works.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test soak lint bench servers clean constraints screenshots

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	touch $(STAMP)

# After adding a dependency to pyproject.toml (or deleting a pin to move it on):
# make constraints pins what is installed, then make test proves it.
constraints: $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e '.[test]'
	{ sed -n '1,3p' constraints.txt; $(BIN)/pip freeze --exclude-editable | grep -v '^-e'; } \
		> constraints.new && mv constraints.new constraints.txt

demo: $(STAMP)
	$(BIN)/intake demo

servers:
	bash tests/setup-servers.sh

lint: $(STAMP)
	$(BIN)/ruff check intake tests benchmarks tools

test: $(STAMP) servers lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

soak: $(STAMP) servers
	$(BIN)/python -m pytest -q -p no:cacheprovider -m soak

# The README's screenshots: the browser test, writing into docs/screenshots/.
screenshots: $(STAMP) servers
	INTAKE_SCREENSHOTS=docs/screenshots $(BIN)/python -m pytest -q -p no:cacheprovider tests/web/test_web_browser.py

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_extract.py
	$(BIN)/python benchmarks/bench_matching.py
	$(BIN)/python benchmarks/bench_bodies.py
	$(BIN)/python benchmarks/bench_accuracy.py

clean:
	rm -rf $(VENV) demo-out var test-artifacts *.egg-info
