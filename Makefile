# Puhui developer entry points.  `make run` and `make test` are all a newcomer needs.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv install test run bench fuzz clean

venv install: $(STAMP)

# Re-install only when the project's dependencies change.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -e '.[test]'
	touch $(STAMP)

test: $(STAMP)
	bash scripts/ensure-postgres.sh
	$(BIN)/pytest -n 2

# The long schemathesis run (docs/reliability.md): every operation, every check, many examples.
FUZZ_EXAMPLES ?= 320
fuzz: $(STAMP)
	PUHUI_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) PUHUI_FUZZ_STATS=1 $(BIN)/pytest -p no:cacheprovider -q -s \
		tests/api/test_api_schema.py

# Seed a demo book (first run only) and serve the API; the URL and demo keys are printed.
run: $(STAMP)
	$(BIN)/puhui serve --demo

bench: $(STAMP)
	@set -e; for script in bench/[!_]*.py; do \
		echo "== $$script"; \
		$(BIN)/python $$script; \
	done

clean:
	rm -rf .pytest_cache .hypothesis build *.egg-info  # never var/: it holds the database
