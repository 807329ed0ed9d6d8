# The two commands of the README: `make run` and `make test`. Everything else supports them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every package the venv holds, at the version tested; function archives pin the runtime part.
LOCK := requirements.lock

.PHONY: run test install bench clean demo-flask lock

$(STAMP): pyproject.toml clients/python/pyproject.toml $(LOCK)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r $(LOCK)
	$(BIN)/pip install --quiet --no-deps -e '.[dev]' -e clients/python
	touch $(STAMP)

# Upgrade: resolve every dependency again to the newest versions pyproject.toml allows.
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --universal --python-version 3.11 --extra dev --upgrade -o $(LOCK)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/beacon dev $(DEV_ARGS)

test: $(STAMP)
	bash scripts/test-deps.sh
	$(BIN)/ruff format --check functions infra tests bench clients/python
	$(BIN)/ruff check functions infra tests bench clients/python
	$(BIN)/mypy
	$(BIN)/pytest $(PYTEST_ARGS)

demo-flask: $(STAMP)
	$(BIN)/python clients/python/examples/flask_demo.py $(DEMO_ARGS)

bench: $(STAMP)
	$(BIN)/python bench/ingest.py

clean:
	rm -rf $(VENV) .beacon .pytest_cache .mypy_cache .ruff_cache
