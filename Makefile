# The two commands of README.md: `make demo` and `make test`. Everything else is optional.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 3000
WEB_PORT ?= 8080

export MONITORING_HOME ?= $(CURDIR)/.monitoring
export DAGSTER_HOME ?= $(MONITORING_HOME)/dagster
export MONITORING_CONFIG ?= $(CURDIR)/demo/monitors.yaml
export WHYLOGS_NO_ANALYTICS := True
export MONITORING_WEB_URL ?= http://127.0.0.1:$(WEB_PORT)

.PHONY: install demo test test-slow test-browser test-all ui bench bench-drift bench-warehouse bench-ops bench-judge bench-fleet bench-otlp bench-scale lint clean-demo

$(VENV)/.installed: pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev,example,distributed]'
	$(BIN)/python -c "import numpy, pandas, pyarrow, whylogs, dagster, scipy, sqlalchemy, slack_sdk; \
	  assert numpy.__version__.startswith('1.'), numpy.__version__"
	touch $@

install: $(VENV)/.installed

$(DAGSTER_HOME)/dagster.yaml: deploy/dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp deploy/dagster.yaml $@

## demo: install, build the demo data, backfill 60 days through Dagster, alert, report
demo: install $(DAGSTER_HOME)/dagster.yaml
	$(BIN)/monitoring demo run

## test: unit, asset, integration and end-to-end tests on SQLite and PostgreSQL, except the
##   scenarios marked slow (the 60-day demo replays; about 6 min more, run by test-slow)
test: install
	$(BIN)/pytest -m "not slow"

## test-slow: the scenarios marked slow (CI runs them after `make test`), the browser tests too
test-slow: install
	$(BIN)/pytest -m slow

## test-browser: only the browser tests (the Dagster UI in Chromium; screenshots in .test-artifacts)
test-browser: install
	$(BIN)/pytest -m browser

## test-all: everything, as CI runs it
test-all: test test-slow

## ui: the Dagster UI on the demo's history (http://127.0.0.1:$(PORT)) with its daemon (schedules,
##   sensors, the alerting), and beside it the incidents, reports, runbooks and review page
##   (http://127.0.0.1:$(WEB_PORT)); without Slack, new messages join the demo's file. Ctrl-C stops all
ui: export MONITORING_ALERTS_FILE ?= $(MONITORING_HOME)/demo/messages.jsonl
ui: install $(DAGSTER_HOME)/dagster.yaml
	@setsid $(BIN)/monitoring serve --port $(WEB_PORT) & web=$$!; \
	  setsid $(BIN)/dagster-daemon run -w workspace.yaml --log-level warning & daemon=$$!; \
	  trap 'kill -TERM -- -$$web -$$daemon 2>/dev/null; wait' EXIT; \
	  $(BIN)/dagster-webserver -w workspace.yaml -h 127.0.0.1 -p $(PORT)

## bench: benchmarks (not tests): per-run overhead of the backfill strategies
bench: install
	$(BIN)/python benchmarks/run_overhead.py

## bench-fleet: definitions load and a run's cost with 1 to 500 monitors, before and after
##   options: make bench-fleet BENCH_ARGS="--sizes 1 10 100 500 --reps 3"
bench-fleet: install
	$(BIN)/python benchmarks/bench_fleet.py $(BENCH_ARGS)

## bench-scale: the demo's backfill on the embedded default and with one and two Celery workers
##   (PostgreSQL, Redis db 7, moto's S3), as ratios, with each executor's per-step overhead
##   options: make bench-scale BENCH_ARGS="--days 20 --scale 0.2"
bench-scale: install
	$(BIN)/python benchmarks/bench_scale.py $(BENCH_ARGS)

## bench-drift: drift benchmark (not a test) beside numpy, scipy, whylogs, GX, Evidently, NannyML
##   options: make bench-drift BENCH_ARGS="--reps 1 --sizes 1000000" (or "--rows-10m")
bench-drift: install
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

## bench-warehouse: one day of 1M and 10M rows in PostgreSQL: pull path, push-down, one-scan floor
##   options: make bench-warehouse BENCH_ARGS="--sizes 1000000 --url postgresql+psycopg2://..."
bench-warehouse: install
	$(BIN)/python benchmarks/bench_warehouse.py $(BENCH_ARGS)

## bench-ops: the day's latency/error/SLO metrics at 1M requests beside a numpy floor
bench-ops: install
	$(BIN)/python benchmarks/bench_ops.py $(BENCH_ARGS)

## bench-otlp: `monitoring otel serve` under load: spans/s on SQLite and PostgreSQL, behind the
##   standard library's HTTP server and uvicorn; spans sent = rows stored; 429s seen
##   options: make bench-otlp BENCH_ARGS="--requests 400 --senders 8 --max-pending 4096"
bench-otlp: install
	$(BIN)/python benchmarks/bench_otlp.py $(BENCH_ARGS)

## bench-judge: `monitoring judge eval` on the three labelled HaluEval files (QA, dialogue,
##   summarization), whole and on the fifth of each the fit never read, then the offline
##   judge's figures on rows its fits never read (untouched, cross-fitted, task left out)
JUDGE_DATA ?= $(CURDIR)/../shared/data
JUDGE_FILES = halueval_qa_dev.jsonl halueval_dialogue_dev.jsonl halueval_summarization_dev.jsonl
bench-judge: install
	$(BIN)/monitoring judge eval $(addprefix $(JUDGE_DATA)/,$(JUDGE_FILES)) \
	  --json $(MONITORING_HOME)/bench-judge.json
	$(BIN)/python benchmarks/bench_judge.py --data $(JUDGE_DATA) \
	  --untouched $(MONITORING_HOME)/judge-untouched
	$(BIN)/monitoring judge eval $(addprefix $(MONITORING_HOME)/judge-untouched/,$(JUDGE_FILES)) \
	  --json $(MONITORING_HOME)/bench-judge-untouched.json
	$(BIN)/python benchmarks/bench_judge.py --data $(JUDGE_DATA) $(BENCH_ARGS)

## lint: ruff (lint and format), mypy strict on the core and mypy on the Dagster layers
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy monitoring_pipelines/core
	$(BIN)/mypy assets resources monitoring_pipelines/sensors monitoring_pipelines/web

clean-demo:
	rm -rf $(MONITORING_HOME)
