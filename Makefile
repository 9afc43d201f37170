# finops-pipeline: the two commands of the README are `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test dev run validate bench bench-ingest bench-formats bench-forecast bench-anomalies bench-api bench-pipeline lint up down clean

# Install exactly what requirements.lock pins, then the project itself (editable).
$(STAMP): requirements.lock pyproject.toml
	$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "finops-pipeline needs Python 3.11+"'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/finops demo

test: $(STAMP)
	$(BIN)/python -m pytest -q

run: $(STAMP)
	$(BIN)/finops run

validate: $(STAMP)
	$(BIN)/finops validate

# Dagster UI on http://127.0.0.1:3000, with run history kept in .dagster_home/. Plain `dagster dev`
# loads [tool.dagster] of pyproject.toml: finops_pipeline.definitions as location finops_pipeline.
dev: $(STAMP)
	mkdir -p .dagster_home
	DAGSTER_HOME=$(CURDIR)/.dagster_home $(BIN)/dagster dev

# Heavy measurements, never part of `make test`; results in docs/performance.md and docs/accuracy.md.
bench: bench-ingest bench-formats bench-forecast bench-anomalies
	$(BIN)/python -m benchmarks.accuracy_doc > docs/accuracy.md

bench-ingest: $(STAMP)
	$(BIN)/python -m benchmarks.run_ingest_benchmark

# scan_file per billing export format (1M and 2M generated rows each) against FOCUS; writes the
# "Ingest by export format" section of docs/performance.md.
bench-formats: $(STAMP)
	$(BIN)/python -m benchmarks.formats_benchmark

bench-forecast: $(STAMP)
	$(BIN)/python -m benchmarks.forecast_m3 --jobs 2

bench-anomalies: $(STAMP)
	$(BIN)/python -m benchmarks.anomaly_benchmark --doc docs/accuracy_anomalies.md

# Read API latency at 50 concurrent connections, SQLite and PostgreSQL (needs the server of
# FINOPS_BENCH_PG_ADMIN, default postgres@127.0.0.1:5432); result in benchmarks/out/api_benchmark.md.
bench-api: $(STAMP)
	$(BIN)/python -m benchmarks.api_benchmark

# The whole pipeline (every asset of monthly_costs_job) on 12 months x 1M generated billing rows, SQLite;
# result in benchmarks/out/pipeline_benchmark.md (docs/performance.md, docs/scaling.md).
bench-pipeline: $(STAMP)
	$(BIN)/python -m benchmarks.pipeline_benchmark

lint: $(STAMP)
	$(BIN)/ruff check finops_pipeline transforms tests benchmarks

up:
	docker compose up -d --build

down:
	docker compose down

clean:
	rm -rf $(VENV) .dagster_home .tmp_dagster_home_* data/sample/warehouse.db* data/sample/.finops
