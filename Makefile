# Two commands do all set-up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv clean bench-simulate bench-encode bench-link

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned to the CPU build on this machine; otherwise sdv pulls a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/harmonie demo --out demo-out --overwrite

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench-simulate: $(STAMP)
	$(BIN)/python benchmarks/bench_simulate.py

bench-encode: $(STAMP)
	$(BIN)/python benchmarks/bench_encode.py

bench-link: $(STAMP)
	$(BIN)/python benchmarks/bench_link.py

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache
