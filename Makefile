# Two commands set everything up: `make reproduce` (tables and figures of the sample) and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PROFILE ?= sample
INSTALLED := $(VENV)/.installed
KERNEL := $(VENV)/share/jupyter/kernels/bioscan-repro/kernel.json
RUN_FLAGS := $(if $(FORCE),--force) $(if $(ONLY),--only $(ONLY))

.PHONY: setup sample reproduce test test-numerics lab bench imagemagick blast chromium notebooks clean-outputs constraints

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Pinned install of the suite and its tests (redone when the pins change). It takes about 7 GB (PyPI's only x86_64
# torch is its CUDA build), so a first install on a disk with less room than INSTALL_GB is refused before pip fails
# half-way.
INSTALL_GB ?= 8
$(INSTALLED): $(BIN)/python pyproject.toml constraints.txt
	@free=$$(df -Pk $(VENV) | awk 'NR == 2 {print int($$4 / 1048576)}'); \
	[ -e $(INSTALLED) ] || [ "$$free" -ge $(INSTALL_GB) ] || { \
		echo "make: the install needs about $(INSTALL_GB) GB free on the disk of $(VENV), which has $$free GB:" \
			"free some space, or set VENV to a folder on a larger disk" >&2; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --constraint constraints.txt --editable ".[test]"
	touch $(INSTALLED)

# The suite's Jupyter kernel.
$(KERNEL): $(INSTALLED) Makefile
	$(BIN)/python -m ipykernel install --sys-prefix --name bioscan-repro --display-name "Python (bioscan-repro)"

setup: $(INSTALLED) $(KERNEL)

sample: setup
	$(BIN)/bioscan-repro prepare --profile $(PROFILE)

reproduce: sample
	$(BIN)/bioscan-repro reproduce --profile $(PROFILE) $(RUN_FLAGS)

test: sample
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest tests notebooks --nbval --nbval-current-env \
		--nbval-sanitize-with tests/nbval_sanitize.cfg -p no:cacheprovider -rs

# Retrain the sample under another processor's numerics (PyTorch's portable kernels, oneDNN limited to SSE4.1,
# MKL's compatible code path) and check its numbers against the recorded ones within the measured tolerances.
test-numerics: sample
	ATEN_CPU_CAPABILITY=default ONEDNN_MAX_CPU_ISA=SSE41 MKL_CBWR=COMPATIBLE BIOSCAN_RETRAIN=1 \
		$(BIN)/python -m pytest tests/test_trained_numbers.py -p no:cacheprovider

# As root (Docker, a cloud VM) JupyterLab asks for --allow-root; it is added there only.
lab: setup
	$(BIN)/jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root)

bench: sample imagemagick blast
	for script in benchmarks/bench_*.py; do $(BIN)/python $$script || exit 1; done

# ImageMagick from Debian's packages: the published resize that benchmarks/bench_preprocess.py compares with.
# Where it cannot be installed (no apt-get, no root or sudo) the benchmark skips that baseline with a message.
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
imagemagick:
	@convert -version 2>/dev/null | grep -q ImageMagick \
		|| { $(SUDO) apt-get install -y imagemagick || { $(SUDO) apt-get update && $(SUDO) apt-get install -y imagemagick; }; } \
		|| echo "ImageMagick not installed: the preprocessing benchmark will skip the published baseline"

# BLAST from Debian's packages (ncbi-blast+): the baseline benchmarks/bench_barcodes.py compares the DNA classifier
# with. Where it cannot be installed the benchmark skips that baseline with a message.
blast:
	@command -v blastn >/dev/null 2>&1 \
		|| { $(SUDO) apt-get install -y ncbi-blast+ || { $(SUDO) apt-get update && $(SUDO) apt-get install -y ncbi-blast+; }; } \
		|| echo "ncbi-blast+ not installed: the barcode benchmark will skip the BLAST baseline"

# Chromium from Debian's packages: the browser that tests/test_report_browser.py opens the report in (through
# Playwright, from the test extra). Where it cannot be installed the browser check is skipped with a message.
chromium:
	@command -v chromium >/dev/null 2>&1 \
		|| { $(SUDO) apt-get install -y chromium || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }; } \
		|| echo "Chromium not installed: the report's browser check will be skipped"

# Re-execute the committed notebooks in place on the sample profile (their parameter defaults),
# so that nbval compares against a fresh sample run.
notebooks: sample
	$(BIN)/jupyter nbconvert --to notebook --execute --inplace --ExecutePreprocessor.timeout=3600 \
		--ExecutePreprocessor.kernel_name=bioscan-repro notebooks/[0-9][0-9]_*.ipynb

clean-outputs:
	rm -rf outputs/$(PROFILE)

# Re-pin every installed package after a dependency change in pyproject.toml.
constraints: setup
	{ sed -n '1,3p' constraints.txt; $(BIN)/python -m pip freeze --exclude-editable | grep -v '^bioscan-repro'; } > constraints.txt.new
	mv constraints.txt.new constraints.txt
