"""Write config/README.md from config/schema.yaml, so the documentation of every key cannot drift from the schema.

Usage: python tools/config_docs.py [--check]   (--check exits 1 if config/README.md is out of date)
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
SCHEMA = REPO / "config" / "schema.yaml"
README = REPO / "config" / "README.md"

INTRO = """# Configuring the workflow

The workflow reads one YAML config (`--configfile`, default `config/config.yaml`, the bundled demo) and validates it
against [`schema.yaml`](schema.yaml) before anything runs: unknown keys, wrong types and references to undefined
genomes stop the run with a message naming the key. Every key below except the required ones has a default, and the
defaults reproduce the study's settings, so a config with only `genomes`, `pretraining.stage1/stage2` and
`expression.genome/matrix` runs the whole workflow:

```yaml
genomes:
  maize:
    fasta: https://example.org/Zm-B73.fa.gz   # local path or http(s)/ftp URL; plain, gzip or bgzip
    gff: https://example.org/Zm-B73.gff3.gz   # GFF3, plain or gzip
    sha256: {fasta: ..., gff: ...}            # optional checksums
  sorghum: {fasta: data/sorghum.fa, gff: data/sorghum.gff3}
pretraining:
  stage1: [maize, sorghum]   # all plant genomes
  stage2: [maize]            # the target species only
expression:
  genome: maize              # whose gene IDs the matrix uses
  matrix: data/tpm.tsv       # gene_id column + one TPM column per tissue
```

A stage's corpus can also take genomes without annotation (a `genomes` entry with `fasta` only: genome-wide
windows, see `windows`) and pre-cut sequence sets (FASTA files of promoters or regulatory windows, see
`sequence_sets`), listed in `pretraining.stage1/stage2` by name like genomes:

```yaml
genomes:
  teosinte: {fasta: data/teosinte.fa.gz}       # no gff: 1 kb windows every 1 kb (`windows`)
sequence_sets:
  grass_promoters: {fasta: data/promoters.fa.gz, description: "promoters cut by another pipeline"}
pretraining:
  stage1: [sorghum, teosinte, grass_promoters]
```

Ready-made configs: `config.yaml` (the demo, generated on the fly) and `maize.yaml` (the study: B73 v5 from
MaizeGDB plus stage-1 plant genomes, with the real B73 10-tissue TPM matrix shipped in `resources/maize_b73/`).
Threads, memory, walltime and GPUs per rule are set under `resources`; partitions, accounts and the executor in a
Snakemake profile (docs/hpc.md).

This file is generated from the schema by `python tools/config_docs.py`; a test keeps it in sync.

## Keys
"""


def describe(name: str, node: dict, required: bool, depth: int, lines: list[str], defs: dict) -> None:
    if "$ref" in node:  # the shared definition, with what the referring node adds (its default, description)
        node = {**defs[node["$ref"].removeprefix("#/$defs/")], **node}
    kind = node.get("type", "object" if "properties" in node else "")
    if isinstance(kind, list):
        kind = " or ".join(kind)
    if "enum" in node:
        kind = " | ".join(map(str, node["enum"]))
    facts = [f"`{kind}`"] if kind else []
    if required:
        facts.append("**required**")
    elif "default" in node and not isinstance(node["default"], dict):
        facts.append(f"default `{json.dumps(node['default'])}`")
    description = " ".join(node.get("description", "").split())
    lines.append(f"{'  ' * depth}- `{name}` ({', '.join(facts)}): {description}")
    children = node.get("properties", {})
    if isinstance(node.get("additionalProperties"), dict) and "properties" in node["additionalProperties"]:
        children = node["additionalProperties"]["properties"]
        name_child = node["additionalProperties"]
        lines.append(f"{'  ' * (depth + 1)}- each entry: {' '.join(name_child.get('description', '').split())}")
        required_children = name_child.get("required", [])
    else:
        required_children = node.get("required", [])
    for child, subnode in children.items():
        describe(child, subnode, child in required_children, depth + 1, lines, defs)


def render() -> str:
    schema = yaml.safe_load(SCHEMA.read_text())
    lines = [INTRO]
    for name, node in schema["properties"].items():
        describe(name, node, name in schema.get("required", []), 0, lines, schema.get("$defs", {}))
    return "\n".join(lines) + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if README.read_text() != text:
            print(f"{README} is out of date: run python tools/config_docs.py", file=sys.stderr)
            return 1
        return 0
    README.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
