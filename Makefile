# Two commands set everything up: `make reproduce` (tables and figures of the sample) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= sample
INSTALLED := $(VENV)/.installed
KERNEL := $(VENV)/share/jupyter/kernels/bioscan-repro/kernel.json
RUN_FLAGS := $(if $(FORCE),--force) $(if $(ONLY),--only $(ONLY))

.PHONY: setup sample reproduce test lab bench imagemagick notebooks clean-outputs constraints

# The same sample-profile numbers on every x86-64 CPU: MKL, oneDNN and PyTorch's own kernels take their AVX2 code
# paths whatever the processor offers (a CPU with AVX-512 would otherwise train the sample to other last bits).
# Exported to every command below and written into the kernel, so JupyterLab runs the same.
ifeq ($(shell uname -m),x86_64)
export MKL_CBWR := AVX2
export ONEDNN_MAX_CPU_ISA := AVX2
export ATEN_CPU_CAPABILITY := avx2
NUMERICS := MKL_CBWR ONEDNN_MAX_CPU_ISA ATEN_CPU_CAPABILITY
endif

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Pinned install of the suite and its tests (redone when the pins change).
$(INSTALLED): $(BIN)/python pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --constraint constraints.txt --editable ".[test]"
	touch $(INSTALLED)

# The suite's Jupyter kernel, with the numerics settings above.
$(KERNEL): $(INSTALLED) Makefile
	$(BIN)/python -m ipykernel install --sys-prefix --name bioscan-repro --display-name "Python (bioscan-repro)" \
		$(foreach name,$(NUMERICS),--env $(name) $($(name)))

setup: $(INSTALLED) $(KERNEL)

sample: setup
	$(BIN)/bioscan-repro prepare --profile $(PROFILE)

reproduce: sample
	$(BIN)/bioscan-repro run --profile $(PROFILE) $(RUN_FLAGS)

test: sample
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider

lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks

bench: sample imagemagick
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

# ImageMagick from Debian's packages: the published resize that benchmarks/bench_preprocess.py compares with.
# Where it cannot be installed (no apt-get, no root or sudo) the benchmark skips that baseline with a message.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
imagemagick:
	@convert -version 2>/dev/null | grep -q ImageMagick \
		|| { $(SUDO) apt-get install -y imagemagick || { $(SUDO) apt-get update && $(SUDO) apt-get install -y imagemagick; }; } \
		|| echo "ImageMagick not installed: the preprocessing benchmark will skip the published baseline"

# Re-execute the committed notebooks in place on the sample profile (their parameter defaults),
# so that nbval compares against a fresh sample run.
notebooks: sample
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 \
		--ExecutePreprocessor.kernel_name=bioscan-repro notebooks/[0-9][0-9]_*.ipynb

clean-outputs:
	rm -rf outputs/$(PROFILE)

# Re-pin every installed package after a dependency change in pyproject.toml.
constraints: setup
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^bioscan'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
