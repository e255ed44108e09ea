# The two commands of the README:
#   make experiment   sets everything up and runs the article's experiment
#   make test         sets everything up and passes the tests: ruff, then the fast suite in Keras 3,
#                     Keras 2 and on TensorFlow 2.12 (the oldest), then the slow claims against golden/,
#                     then the example project's own tests (examples/my-sparse-model, l1lab's pytest plugin)
# Both create .venv on first use; MNIST is fetched on first run (see README).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.l1lab-installed
# The article's headline run: TensorFlow's ProximalAdagrad, GPUs hidden, 200 epochs.
# Another run: make experiment ARGS="--method proximal-sgd --l1 0.001 --numEpochs 20"
ARGS ?= --regL1Try3 0.001 --numEpochs 200

EXAMPLE := examples/my-sparse-model

.PHONY: experiment test lint fast fast-legacy slow example claims bench setup clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable '.[test,legacy,report,edge,peers,cluster]' 'tox>=4'
	touch $@

experiment: $(STAMP)
	@mkdir -p out
	@$(BIN)/l1lab train --out out/experiment.jsonl $(ARGS)

test: $(STAMP)
	$(BIN)/tox -e lint,fast,fast-legacy,tf212,slow
	$(MAKE) example

lint: $(STAMP)
	$(BIN)/tox -e lint

fast: $(STAMP)
	$(BIN)/tox -e fast

fast-legacy: $(STAMP)
	$(BIN)/tox -e fast-legacy

slow: $(STAMP)
	$(BIN)/tox -e slow

# A project of its own under l1lab's plugin: installed beside l1lab, its fast tests, then its slow ones.
example: $(STAMP)
	$(BIN)/python -m pip install --quiet --no-deps --editable $(EXAMPLE)
	cd $(EXAMPLE) && $(abspath $(BIN))/python -m pytest -p no:cacheprovider -m "not slow"
	cd $(EXAMPLE) && $(abspath $(BIN))/python -m pytest -p no:cacheprovider -m slow

claims: $(STAMP)
	$(BIN)/l1lab claims --out-dir reports

bench: $(STAMP)
	$(BIN)/python benchmarks/bench_epoch.py
	$(BIN)/python benchmarks/bench_steps.py

clean:
	rm -rf $(VENV) .tox out build *.egg-info
