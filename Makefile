# The two commands of the README. Both install what they need first (apt + .venv), so each works on a fresh machine.
VENV_BIN := .venv/bin
# Resources per rule come from the rules (config `resources`); `make demo PROFILE=slurm` runs on SLURM.
PROFILE ?=
RUN_WITH := $(if $(PROFILE),--profile $(PROFILE))

.PHONY: demo test test-fast lint bench

demo:
	bash tools/install.sh
	$(VENV_BIN)/snakemake $(RUN_WITH)
	$(VENV_BIN)/snakemake $(RUN_WITH) --report results/report.html

test:
	bash tools/install.sh --test
	$(VENV_BIN)/python -m pytest

# The daily tier: everything that neither runs Snakemake end to end, trains for minutes nor starts Slurm.
test-fast:
	bash tools/install.sh --test
	$(VENV_BIN)/python -m pytest -m "not slow and not slurm"

lint:
	$(VENV_BIN)/snakemake --lint
	$(VENV_BIN)/snakefmt --check Snakefile rules/
	$(VENV_BIN)/ruff check --select F workflow_scripts tests bench tools

bench:
	bash tools/install.sh
	$(VENV_BIN)/python bench/run.py all
