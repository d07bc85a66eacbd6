# The two commands of the README's quick start: `make demo` and `make test`.
# Both create .venv when it is missing and install everything the project needs.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# torch and torchvision come first, from their own spec: on the project's machines
# these exact releases lie on local disk (a CUDA build that also runs on the CPU).
# Elsewhere, override it, e.g. `make test TORCH_SPEC="torch torchvision"`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
FASHION_MNIST := /usr/share/datasets/fashion-mnist
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider

.PHONY: install data demo test test-all lint format docs bench bench-training \
	bench-training-backends \
	bench-pruning bench-inference bench-inference-quick bench-sparse-training bench-rnn \
	bench-search bench-lottery bench-structured bench-paper-reber bench-paper-pruning \
	bench-compress-cnn bench-peers-env clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q $(TORCH_SPEC)
	$(BIN)/python -m pip install -q -e ".[test,dask,lint,fast]"
	touch $@

# Real Fashion-MNIST offline: Debian's package, where this machine allows apt-get.
# Optional: tests skip what needs it, benchmarks say how to get it.
data:
	@if [ ! -d $(FASHION_MNIST) ] && command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq dataset-fashion-mnist) >/dev/null 2>&1 \
		|| echo "note: could not install dataset-fashion-mnist; Fashion-MNIST benchmarks will need --root"; \
	fi

demo: install data
	$(BIN)/python -m sksparse demo

test: install data
	$(PYTEST) -q

test-all: install data
	$(PYTEST) -q -m "slow or not slow"

lint: install
	$(BIN)/ruff check sksparse tests benchmarks examples
	$(BIN)/ruff format --check sksparse tests benchmarks examples

format: install
	$(BIN)/ruff format sksparse tests benchmarks examples
	$(BIN)/ruff check --fix sksparse tests benchmarks examples

# The site, with every warning an error; the gallery's examples run unless
# DOCS_GALLERY=0 (`make docs DOCS_GALLERY=0`: a quick build of the text only).
DOCS_GALLERY ?= 1
docs: $(VENV)/.docs-installed
	SKSPARSE_DOCS_GALLERY=$(DOCS_GALLERY) $(BIN)/python -m sphinx -W --keep-going \
		-b html docs docs/_build/html
	@echo "docs: open docs/_build/html/index.html"

$(VENV)/.docs-installed: $(VENV)/.installed
	$(BIN)/python -m pip install -q -e ".[docs]"
	touch $@

bench: bench-training bench-training-backends bench-pruning bench-inference \
	bench-sparse-training bench-rnn bench-search bench-lottery bench-structured bench-compress-cnn

bench-training: install data
	$(BIN)/python benchmarks/training.py

# Masked and CSR training backends against dense, through the estimator and per
# step; SparseProp beside them where `make bench-peers-env` installed it.
# One thread, then torch's default threads (about 3 min on 2 cores).
TRAINING_BACKENDS_ARGS := --n-train 10000 --epochs 3 --repeats 2 --steps 15
bench-training-backends: install data
	$(BIN)/python benchmarks/training_backends.py $(TRAINING_BACKENDS_ARGS) --threads 1
	$(BIN)/python benchmarks/training_backends.py $(TRAINING_BACKENDS_ARGS) \
		--threads $$($(BIN)/python -c 'import torch; print(torch.get_num_threads())') \
		--out-name training_backends_threads2

bench-pruning: install data
	$(BIN)/python benchmarks/pruning.py

# Lottery tickets: rewinding against the papers' controls (about 30 min of one core).
bench-lottery: install data
	$(BIN)/python benchmarks/lottery.py

# Block and N:M sparsity against unstructured CSR: kernel speed and accuracy.
bench-structured: install data
	$(BIN)/python benchmarks/structured.py

# compress() on a sparse CNN: masked against compressed speed and file size.
bench-compress-cnn: install data
	$(BIN)/python benchmarks/compress_cnn.py

bench-inference: install
	$(BIN)/python benchmarks/inference.py

bench-inference-quick: install
	$(BIN)/python benchmarks/inference.py --quick

# The inference benchmark's peers, in their own venv: DeepSparse 1.8 pins
# numpy < 2 and its own onnx, which the project's venv must not get. Each
# peer installs on its own, so one that fails (DeepSparse is deprecated and
# has no wheel for every Python) leaves the others; its pip error is kept in
# $(PEERS_VENV)/<peer>.log, and the benchmark reports it as unavailable.
PEERS_VENV ?= .venv-peers
PEERS_PYTHON ?= $(PYTHON)
bench-peers-env:
	test -x $(PEERS_VENV)/bin/python || $(PEERS_PYTHON) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/python -m pip install -q --upgrade pip
	$(PEERS_VENV)/bin/python -m pip install -q "numpy<2" scipy onnx onnxruntime
	# sparseprop trains torch modules: the same torch as the project, from its own spec.
	$(PEERS_VENV)/bin/python -m pip install -q "numpy<2" $(TORCH_SPEC)
	for peer in "deepsparse==1.8.*" sparseprop; do \
		name=$$(echo $$peer | sed 's/[=<>].*//'); \
		$(PEERS_VENV)/bin/python -m pip install -q "numpy<2" "$$peer" \
			>$(PEERS_VENV)/$$name.log 2>&1 \
			&& echo "$$peer: installed" \
			|| echo "$$peer: failed, see $(PEERS_VENV)/$$name.log"; \
	done

bench-sparse-training: install data
	$(BIN)/python benchmarks/sparse_training.py

bench-rnn: install
	$(BIN)/python benchmarks/rnn_structure.py

bench-search: install data
	$(BIN)/python benchmarks/search.py

# The paper's own protocols (its Reber population, its 784-100-10 SGD pruning
# setup with a paired test); sizes and the full-size flags in each script's
# docstring.
bench-paper-reber: install
	$(BIN)/python benchmarks/paper_reber.py --jobs 2

bench-paper-pruning: install data
	$(BIN)/python benchmarks/paper_pruning.py
	$(BIN)/python benchmarks/paper_pruning.py --study gap
	$(BIN)/python benchmarks/paper_pruning.py --study gap --protocol ours

clean:
	rm -rf $(VENV) docs/_build docs/auto_examples docs/generated docs/gen_modules \
		docs/api.rst docs/sg_execution_times.rst sksparse-results .pytest_cache .ruff_cache \
		.venv-peers
