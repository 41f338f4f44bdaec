# The two commands a newcomer needs: `make run` and `make test`. Everything installs into .venv.
VENV    ?= .venv
PY      := $(VENV)/bin/python
BIN     := $(VENV)/bin
PYTHON  ?= python3
HOST    ?= 127.0.0.1
PORT    ?= 8000
BANK_PORT ?= 8100
STAMP   := $(VENV)/.installed

.PHONY: run test install lint types imports unit bench clean browser-deps messages screenshots \
	cluster-deps cluster cluster-hold bench-failover national bench-national bench-national-failover

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

install: $(STAMP)

## run: install, then `tuitionguard up`: if the port already serves TuitionGuard, say so and
## stop; else migrate the SQLite database, seed the demo region (six months of history the
## first time; the credentials printed last time again), start the bank simulator and serve
## the API, docs, workbench, parent's page and scheduler on http://$(HOST):$(PORT). Stopping
## it stops the simulator it started.
run: install
	$(BIN)/tuitionguard up --host $(HOST) --port $(PORT) --bank-port $(BANK_PORT)

## browser-deps: Debian's chromium and a CJK font (文泉驿微米黑) for the browser tests and the
## screenshots (root installs them; others are told)
browser-deps:
	@{ command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "wenquanyi"; } || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && \
	    apt-get install -y -qq chromium fonts-wqy-microhei) >/dev/null; \
	  else echo "chromium or fonts-wqy-microhei missing: browser tests will be skipped"; fi; }

## cluster-deps: Debian's patroni, etcd (server and client) and haproxy for `make cluster` and
## the failover benchmark (root installs them; others are told). PostgreSQL 15 is already here.
cluster-deps:
	@{ command -v patroni >/dev/null 2>&1 && command -v etcd >/dev/null 2>&1 && \
	   command -v haproxy >/dev/null 2>&1; } || { \
	  if [ "$$(id -u)" = 0 ]; then (apt-get update -qq && \
	    apt-get install -y -qq patroni etcd-server etcd-client haproxy) >/dev/null; \
	  else echo "patroni, etcd-server, etcd-client or haproxy missing: as root, make cluster-deps"; fi; }

## cluster: a province's stack on this machine from one command (tools/cluster/province.py):
## etcd, Patroni over two PostgreSQL 15 servers (one synchronous standby), HAProxy (writes to
## the leader, reads to the replica, HTTP over two API processes), two schedulers; a smoke
## check through HAProxy; then everything stopped and its folder removed. `cluster-hold`
## stays up until Ctrl-C.
cluster: install cluster-deps
	$(PY) -m tools.cluster.province

cluster-hold: install cluster-deps
	$(PY) -m tools.cluster.province --hold

## bench-failover: the province under a load of lesson reports and releases, its leader killed
## in the middle (bench/failover.py; minutes, not in `make test`); figures in docs/scaling.md
bench-failover: install cluster-deps
	$(PY) bench/failover.py

## national: the national view on this machine (tools/cluster/national.py): two provinces and
## the national database, each a scratch PostgreSQL 15 of its own, joined by logical replication
## (a publication per province, a subscription per province); a scheduler per province keeps
## its rollups current; the national workbench checked; then everything stopped and removed.
national: install
	$(PY) -m tools.cluster.national

## bench-national: the national rollups' lag behind the provinces under a load of deposits
## (bench/national.py; minutes, not in `make test`); figures in docs/scaling.md
bench-national: install
	$(PY) bench/national.py

## bench-national-failover: a province on Patroni and the national database; the province's
## leader killed, the national subscription following it to the new leader
## (`tuitionguard national-follow`: resubscribe, copy the province whole); times and checks
## the rollups equal afterwards (bench/national_failover.py; minutes, not in `make test`)
bench-national-failover: install cluster-deps
	$(PY) bench/national_failover.py

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

types: install
	$(BIN)/mypy --strict ledger service tools tgproof

## imports: the import contracts of pyproject.toml (ledger apart, tools apart, layers one way)
imports: install
	$(BIN)/lint-imports

## test: lint, types, import contracts, and the whole suite on SQLite and PostgreSQL
## (TEST_DATABASE_URL)
test: install browser-deps lint types imports
	$(BIN)/pytest -n 2 --dist loadgroup tests

## bench: every benchmark (PostgreSQL from TEST_DATABASE_URL); figures go in docs/benchmarks.md
## and docs/reliability.md (the chaos soak, scheduler leadership, the long schemathesis run)
bench: install
	$(PY) bench/ledger.py
	$(PY) bench/rules.py
	$(PY) bench/deposits.py
	$(PY) bench/packs_overhead.py
	$(PY) bench/sweep.py
	$(PY) bench/workbench.py
	$(PY) bench/balances.py
	$(PY) bench/reconcile.py
	$(PY) bench/backtest.py
	$(PY) bench/soak.py
	$(PY) bench/leader.py
	$(PY) bench/fuzz.py
	$(PY) bench/signin.py
	$(PY) bench/replica_lag.py
	$(PY) bench/failover.py
	$(PY) bench/national.py

## screenshots: every workbench page, in Chinese and English, on a desktop and at 360 px, taken
## in headless Chromium against the showcase region (tools/showcase.py), into docs/screenshots/
screenshots: install browser-deps
	$(PY) -m tools.screenshots --out docs/screenshots

## messages: extract the pages' messages and merge them into the catalogues (then translate the
## new entries in service/pages/locale/zh_CN/LC_MESSAGES/messages.po)
messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k N_ --no-location --sort-output -o messages.pot .
	$(BIN)/pybabel update -i messages.pot -d service/pages/locale -D messages -l zh_CN --no-fuzzy-matching
	rm -f messages.pot

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
