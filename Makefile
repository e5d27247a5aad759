# selfheal — see README.md
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
# Workers for `make test`: the tests mostly wait (processes, sockets, sleeps), so more workers
# than cores pays; 4 measured best on the 2-core machines (README, Development).
# `make test WORKERS=0` runs serially.
WORKERS ?= 4
XDIST := -n $(WORKERS) --dist loadgroup

.PHONY: venv demo up test check unit tools bench format clean clean-data image faults

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e ".[dev]"
	@touch $(STAMP)

demo: venv
	$(BIN)/selfheal demo

up: venv
	$(BIN)/selfheal up

# The container image (podman, offline from a host wheelhouse; see Containerfile, scripts/image.sh).
image:
	@bash scripts/image.sh

# Debian/npm tools the integration tests drive (Prometheus, Alertmanager, nginx, Chromium, wrk).
tools:
	@bash scripts/install-tools.sh

check: venv
	$(BIN)/ruff format --check src tests bench
	$(BIN)/ruff check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python scripts/check_docs.py README.md docs
	$(BIN)/python scripts/check_deploy.py

# Everything: unit, integration, browser, e2e, the fault-injection suite (tests/faults) and the
# container image suite (tests/deploy), in parallel; tests/faults and tests/deploy each run whole
# on one worker (tests/support/scheduling.py).
test: venv tools check
	$(BIN)/python -m pytest -q -p no:cacheprovider $(XDIST) $(PYTEST_ARGS)

# The fault-injection suite (tests/faults: each test its own nats-server, PostgreSQL database
# or cluster and three replicas, killed and restarted; ~5 min, of which 60 s the NATS outage).
# Self-contained, so it can run as its own parallel group: see docs/benchmarks.md.
faults: venv
	$(BIN)/python -m pytest -q -p no:cacheprovider -m faults tests/faults $(PYTEST_ARGS)

unit: venv
	$(BIN)/python -m pytest -q -x tests/unit $(PYTEST_ARGS)

# The quick ones; bench/flags/run.py (unleash-server from npm, ~6 min) and
# `selfheal bench mttr -n 10` (~15 min) are run by hand, see docs/benchmarks.md.
bench: venv
	$(BIN)/python bench/bus.py
	$(BIN)/python bench/flags_engine.py
	$(BIN)/python bench/control.py
	$(BIN)/python bench/detect.py --quick

format: venv
	$(BIN)/ruff format src tests bench
	$(BIN)/ruff check --fix src tests bench

# Leaves .selfheal (the default data directory of `selfheal up`: flags and history) alone.
clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache

# Deletes the local data directory of `selfheal up` — flags, problems, sequences. Explicit on purpose.
clean-data:
	rm -rf .selfheal
