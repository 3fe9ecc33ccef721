# The two commands of the README: `make serve` and `make test`. Each builds .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: serve test lint typecheck unit bench peers cluster clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test,fast,redis]'
	touch $(STAMP)

serve: $(STAMP)
	$(BIN)/tui-engine serve $(ARGS)

peers:
	bash scripts/install-peers.sh

lint: $(STAMP)
	$(BIN)/ruff check tui_engine tests bench deploy

typecheck: $(STAMP)
	$(BIN)/mypy --strict tui_engine

test: $(STAMP) peers lint typecheck
	$(BIN)/pytest -n 2 --dist loadgroup -q -p no:cacheprovider $(PYTEST_ARGS)

# Redis + one engine per core + Kamailio in front (deploy/kamailio/tui-engine.cfg), in the foreground:
# SIP on 127.0.0.1:5060 through Kamailio, portals on 8081, 8082, ...; Ctrl-C stops all. ARGS: --engines N
cluster: $(STAMP) peers
	$(BIN)/python -m deploy.cluster up $(ARGS)

# Every benchmark; ASTERISK=/path (an Asterisk 20 install with chan_sip) adds the side-by-side, else it is skipped.
bench: $(STAMP)
	WITH_KAMAILIO=1 bash scripts/install-peers.sh
	$(BIN)/python -m pip install -q -e '.[test,fast,redis,bench]'
	$(BIN)/python -m bench $(ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
