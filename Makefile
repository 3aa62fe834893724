# Robot SRE — developer entry points. `make demo` and `make test` work on a
# fresh Debian machine with Python 3.11 (they install what is missing).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint format bench fuzz image system-deps venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

system-deps:
	scripts/install-system-deps.sh

lint: $(STAMP)
	$(BIN)/ruff check responder tests bench scripts
	$(BIN)/ruff format --check responder tests bench scripts
	$(BIN)/mypy responder tests
	$(BIN)/lint-imports

format: $(STAMP)
	$(BIN)/ruff format responder tests bench scripts
	$(BIN)/ruff check --fix responder tests bench scripts

test: $(STAMP) system-deps lint
	ROBOT_SRE_STORE_URL=sqlite:///:memory: $(BIN)/robot-sre policy test
	$(BIN)/python -m pytest -q

demo: $(STAMP)
	scripts/demo.sh

# the container image (Containerfile) with buildah, podman or docker;
# BASE_IMAGE=local builds on a Debian base made here (no registry needed)
image:
	scripts/build-image.sh

# the long fuzz: the webhook parser (100,000 inputs a property) and every
# API operation (1,000 inputs each); make test runs a short one of each
fuzz: $(STAMP)
	FUZZ_PARSER_EXAMPLES=100000 FUZZ_API_EXAMPLES=1000 $(BIN)/python -m pytest -q \
		tests/ingest/test_parser_fuzz.py tests/api/test_schema_fuzz.py

bench: $(STAMP) system-deps
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis robot-sre.db*
