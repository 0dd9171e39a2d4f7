# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat requirements.lock pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: run test bench fuzz install lint format lock clean-data

$(STAMP): requirements.lock pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

## Run the app (web server, Celery worker and beat, restarted when one dies) on embedded
## Postgres and broker unless DATABASE_URL / CELERY_BROKER_URL are set; runstack starts them.
run: install
	$(BIN)/python manage.py runstack

## Run the whole suite against a real Postgres (embedded unless DATABASE_URL is set; the
## suite's plugin starts it), in TEST_WORKERS processes (pytest-xdist; 0 runs in this one),
## each on a test database of its own. `PYTEST_ARGS='-m "not slow"'` skips the stack,
## fault and benchmark tests.
TEST_WORKERS ?= auto
test: install
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## Fuzz the ingest API (its OpenAPI schema, generated messages) with many more cases than `make test` runs.
fuzz: install
	CDP_FUZZ_EXAMPLES=$${CDP_FUZZ_EXAMPLES:-2000} $(BIN)/python -m pytest tests/ingestion/test_fuzz.py tests/ingestion/test_ingest_properties.py -p no:randomly $(PYTEST_ARGS)

## Time what users wait for on generated data, in a database of its own (docs/benchmark.md).
bench: install
	$(BIN)/python manage.py bench $(BENCH_ARGS)

## Check style, the layers (import-linter, contracts in pyproject.toml) and the types (mypy).
## None of them starts a database: the settings only read the environment.
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## Re-pin dependencies after editing pyproject.toml.
lock: install
	$(BIN)/python -m pip install --quiet uv
	$(BIN)/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

## Delete the embedded database and broker data (everything under var/).
clean-data:
	rm -rf var
