# Set-up and everyday commands. `make run` and `make test` work on a fresh clone:
# each creates .venv/ with the locked dependencies and places the inputs first.

# Python 3.13, the version the challenge's model was pickled with. pyenv's shims
# are skipped because they fail unless 3.13 is the selected version.
PYTHON ?= $(firstword $(wildcard $(HOME)/.pyenv/versions/3.13*/bin/python3.13) \
                      $(shell command -v python3.13 2>/dev/null))
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
KEDRO := $(VENV)/bin/kedro

export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON_DOWNLOADS := never

.PHONY: install data java spark-archive run test lint viz viz-build docs-images chromium clean

# uv lives in its own small environment so that syncing .venv never removes it.
$(UV):
	@test -n "$(PYTHON)" || { echo "Python 3.13 not found; set PYTHON=/path/to/python3.13" >&2; exit 1; }
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --all-groups --python $(PYTHON)
	@touch $@

install: $(VENV)/.synced

data: install
	$(VENV)/bin/python -m shape.data_setup

# `engine: sparkml` and its tests need a Java runtime (pyspark 4 runs on Java 17
# or later); a CI machine without one gets Debian's, which needs root.
java:
	@command -v java >/dev/null 2>&1 || { \
	  apt-get update -qq && apt-get install -y -qq openjdk-17-jre-headless; }

# The archive of the Spark driver's classes (shape.spark_archive): sparkml runs
# start about 2 s sooner with it. Rebuilt when the environment is synced again;
# after installing another JDK, or if it was damaged, delete
# .venv/share/shape/ and run this again.
SPARK_ARCHIVE := $(VENV)/share/shape/spark-driver-classes.jsa

# The build writes the archive's size beside it last, so that is the target.
$(SPARK_ARCHIVE).size: $(VENV)/.synced
	$(VENV)/bin/python -m shape.spark_archive

spark-archive: install java $(SPARK_ARCHIVE).size

run: data
	$(KEDRO) run

test: data java chromium spark-archive
	$(VENV)/bin/pytest

# The kedro-viz browser test drives Debian's headless Chromium. Installing it
# needs root and Debian's package registry; when it is present this does nothing.
chromium:
	@test -x /usr/bin/chromium || { \
	  apt-get -o DPkg::Lock::Timeout=600 update && \
	  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 \
	    install -y --no-install-recommends chromium fonts-liberation; }

lint: install
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

viz: data
	$(KEDRO) viz run

# A static kedro-viz site in build/, with the plots and table previews; open it
# with any web server, e.g. `python -m http.server -d build -b 127.0.0.1`.
viz-build: run
	$(KEDRO) viz build --include-previews

# Refreshes the screenshots and plots in docs/images/ from the browser test.
docs-images: data chromium
	SHAPE_DOCS_IMAGES=docs/images $(VENV)/bin/pytest -q tests/test_viz_browser.py

clean:
	rm -rf $(VENV) $(TOOLS)
