# Two set-up commands (README): `make demo` and `make test`. Both create .venv and install
# everything: torch==2.13.0 (CPU) FIRST, then the package with its extras, with constraints.txt
# pinning torch for every pip call so nothing pulls a CUDA build.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PIP_CONSTRAINT := $(CURDIR)/constraints.txt
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test test-slow test-slow-ci test-all bench lint format docs clean realdata

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install "torch==2.13.0"
	$(BIN)/pip install -e ".[imaging,alignment,cebra,convert,docs,test]"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(BIN)/thalamocortex demo --out demo_out

# two test processes on two cores: one BLAS thread each
TEST_ENV := OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1

test: install
	$(BIN)/ruff check src tests benchmarks
	$(TEST_ENV) $(BIN)/pytest -n 2 --dist loadfile

test-slow: install
	$(TEST_ENV) $(BIN)/pytest -m slow

# the slow tests CI runs after `make test` (.ci/run): seed sweeps, null false-positive rates and
# bouton detection on movies. Measured 2026-12-02 one by one: about 12 CPU minutes in all (the
# longest, stereotypy over seeds, 5.4 CPU min), so about 7 min on two cores. The other slow tests
# (tracking sweeps, movie end to end, the pipeline-level calibration, CEBRA) run with test-slow.
SLOW_CI := tests/test_behavior_groundtruth.py tests/test_opto_groundtruth.py \
	tests/test_alignment_slow.py::test_study_test_rejects_at_nominal_rate_on_null_cohorts \
	tests/test_encoding_groundtruth.py::test_null_cohorts_reject_at_most_nominal_rate \
	tests/test_preprocess_boutons_movie.py::test_bouton_detection_default_settings_30s \
	"tests/test_preprocess_boutons_movie.py::test_bouton_merging_from_the_movie_more_sessions[1-1]"

test-slow-ci: install
	$(TEST_ENV) $(BIN)/pytest -m slow -n 2 --dist load $(SLOW_CI)

test-all: install
	$(TEST_ENV) $(BIN)/pytest -m "" -n 2 --dist loadfile

# the real two-photon movie of the realdata tests, fetched into its cache ahead of time
realdata: install
	$(BIN)/python tests/_realdata.py

bench: install
	$(BIN)/python benchmarks/run.py

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

# the documentation site (site/): reference pages generated from the code, notebooks executed
# (a failing cell fails), then mkdocs in strict mode (any warning fails); offline
docs: install
	$(TEST_ENV) $(BIN)/python docs/generate.py
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) demo_out site docs/generated
