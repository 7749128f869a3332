# One command for every check, shared by people and CI.
#   make demo   - create .venv, install initspec with every backend, run the bundled example
#   make test   - create/update .venv, install what the tests need, run the whole test suite
#   make bench  - run the benchmarks (prints ratios against native calls)

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PIP    := $(BIN)/python -m pip
CONSTRAINTS := requirements/constraints.txt

.PHONY: venv demo test test-fast bench schema lint clean

venv: $(STAMP)

$(STAMP): pyproject.toml $(CONSTRAINTS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip "setuptools>=77" wheel
	$(PIP) install --quiet -c $(CONSTRAINTS) -e ".[all,test]"
	@touch $(STAMP)

demo: venv
	$(BIN)/python examples/demo.py

# pytest exit code 5 means "no tests collected": report it and fail, never pass silently.
# One BLAS/OpenMP thread per pytest worker: -n 2 on 2 cores, without oversubscription.
TEST_ENV := OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 MKL_NUM_THREADS=1

test: venv
	@$(TEST_ENV) $(BIN)/pytest -n 2 $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests (exit 5) - failing" >&2; fi; \
	  exit $$rc

test-fast: venv
	$(TEST_ENV) $(BIN)/pytest -n 2 -m "not slow" $(PYTEST_ARGS)

bench: venv
	$(BIN)/python benchmarks/bench_adapters.py

schema: venv
	$(BIN)/python -m initspec.schema --write schemas

clean:
	rm -rf $(VENV) build dist *.egg-info

# Coverage-guided fuzzing (atheris; hypothesis where atheris cannot install) of the loaders,
# resolve, NumPy sampling and plan/apply for FUZZ_SECONDS: new kinds of findings are written to
# fuzz/findings/ as cases for tests/fuzz_corpus/ (see fuzz/run.py).
FUZZ_SECONDS ?= 60
.PHONY: fuzz
fuzz: venv
	@$(BIN)/python -c "import atheris" 2>/dev/null || $(PIP) install --quiet -c $(CONSTRAINTS) atheris \
	  || echo "make fuzz: atheris does not install here: fuzzing with hypothesis (not coverage-guided)" >&2
	$(BIN)/python fuzz/run.py --seconds $(FUZZ_SECONDS)
