# Two commands do all set-up from a fresh clone: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test venv browser clean bench-simulate bench-encode bench-link bench-peers bench-peers-run bench-kernel

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first, pinned to the CPU build on this machine; otherwise sdv pulls a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	# the spark extra lets `make test` check the Spark engine against the local one (skipped without Java 17)
	$(BIN)/python -m pip install --quiet -e '.[test,spark]'
	@touch $@

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/harmonie demo --out demo-out --overwrite

# Debian's Chromium, for the test that draws the linkage report in a real browser (it is skipped, saying why,
# where the package cannot be installed: not root, or no apt)
CHROMIUM := /usr/bin/chromium

$(CHROMIUM):
	@if command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		echo "installing Debian's chromium for the browser test"; \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1 || \
		(apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq --no-install-recommends chromium >/dev/null 2>&1) || \
		echo "could not install chromium: the browser test will be skipped"; \
	else echo "no chromium and no root apt-get: the browser test will be skipped"; fi

browser: $(CHROMIUM)

# both cores: test files spread over two workers (pytest-xdist), each file's tests on one worker
test: $(STAMP) $(CHROMIUM)
	$(BIN)/python -m pytest -q -n 2 --dist loadfile

bench-simulate: $(STAMP)
	$(BIN)/python benchmarks/bench_simulate.py

bench-encode: $(STAMP)
	$(BIN)/python benchmarks/bench_encode.py

bench-link: $(STAMP)
	$(BIN)/python benchmarks/bench_link.py

# Peers for the benchmarks, in their own venv: clkhash pins cryptography 40, which our stack
# cannot share; anonlink imports pkg_resources, gone from setuptools 81.
PEERS       := .venv-peers
PEERS_STAMP := $(PEERS)/.installed

$(PEERS_STAMP):
	@test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/python -m pip install --quiet --upgrade pip
	$(PEERS)/bin/python -m pip install --quiet 'setuptools<81' 'splink==5.0.0' duckdb 'recordlinkage==0.16' \
		'anonlink==0.15.3' 'clkhash==0.18.3' 'pandas<3' pyarrow psutil
	@touch $@

bench-peers: $(PEERS_STAMP)

# Every peer and Harmonie on FEBRL 1-4 and the simulated 20,000 x 300,000 scenarios (POP= to reuse one)
bench-peers-run: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python benchmarks/bench_peers.py $(if $(POP),--population $(POP)) --febrl 1,2,3,4 \
		--scenarios names,direct,indirect --out benchmarks/results/peers

bench-kernel: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python benchmarks/bench_kernel.py

clean:
	rm -rf $(VENV) $(PEERS) build *.egg-info .pytest_cache
