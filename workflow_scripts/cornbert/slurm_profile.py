"""`cornbert-slurm-profile`: write a user-level Snakemake profile named `slurm` for a cluster that has none.

    cornbert-slurm-profile --partition cpu --gpu-partition gpu --account lab
    snakemake --profile slurm --configfile my_config.yaml

The profile holds what belongs to the site (executor, account, partitions); what each rule needs (threads, memory,
walltime, GPUs) comes from the rules themselves (the config's `resources` section). GPU rules reach the GPU
partition through the SLURM executor plugin's partition selection (partitions.yaml, written beside config.yaml): a
job asking for GPUs fits only a partition that has them, and a CPU job prefers one without, with no per-rule
partition to keep in step with the workflow's rules.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import yaml
from platformdirs import user_config_dir


def default_directory() -> Path:
    """Where `snakemake --profile slurm` looks for a user's profile (the same lookup as Snakemake's own)."""
    return Path(user_config_dir("snakemake", "snakemake")) / "slurm"


def profile(args: argparse.Namespace, partitions_file: Path) -> dict:
    # The job limit belongs here, not in the workflow profile: there, `jobs` would also lift the --cores limit of
    # local runs (a 2-core `make demo` ran 15 jobs at once).
    config: dict = {"executor": "slurm", "jobs": args.jobs, "slurm-partition-config": str(partitions_file)}
    if args.conda:
        config["software-deployment-method"] = "conda"
    if args.account:
        config["default-resources"] = {"slurm_account": args.account}
    if args.status_command == "squeue":
        # The plugin uses squeue only while MinJobAge >= 3 x this delay; 40 s is its default.
        config["slurm-status-command"] = "squeue"
        config["slurm-init-seconds-before-status-checks"] = 40
    return config


def partitions(args: argparse.Namespace) -> dict:
    # Limits left out count as unlimited; max_gpu is what makes a partition eligible for GPU jobs at all.
    return {"partitions": {args.partition: {"max_gpu": 0}, args.gpu_partition: {"max_gpu": args.gpus_per_node}}}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="cornbert-slurm-profile", description=__doc__.split("\n\n")[0])
    parser.add_argument("--partition", required=True, help="partition of CPU jobs (`sinfo -s` lists them)")
    parser.add_argument("--gpu-partition", required=True, help="partition of GPU jobs (`sinfo -o '%%P %%G'`)")
    parser.add_argument("--account", help="account to charge (`sacctmgr show assoc user=$USER format=account`)")
    parser.add_argument("--gpus-per-node", type=int, default=8, help="GPUs of the GPU partition's nodes (default 8)")
    parser.add_argument("--jobs", type=int, default=100, help="most jobs queued or running at once (default 100)")
    parser.add_argument(
        "--status-command", choices=["sacct", "squeue"], default="sacct",
        help="how job ends are seen: sacct (SLURM accounting, the default) or squeue (clusters without accounting)",
    )  # fmt: skip
    parser.add_argument(
        "--no-conda", dest="conda", action="store_false",
        help="run rules with the tools of the current environment instead of the per-rule conda envs of envs/",
    )  # fmt: skip
    parser.add_argument("--directory", type=Path, default=default_directory(), help="default: %(default)s")
    parser.add_argument("--force", action="store_true", help="replace an existing profile there")
    args = parser.parse_args(argv)
    if args.partition == args.gpu_partition:
        parser.error("--partition and --gpu-partition must differ (with one partition, give it to your site "
                     "profile as default-resources: slurm_partition, see docs/hpc.md)")  # fmt: skip
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    config_file, partitions_file = args.directory / "config.yaml", args.directory / "partitions.yaml"
    if config_file.exists() and not args.force:
        raise SystemExit(f"{config_file} exists; add --force to replace it")
    args.directory.mkdir(parents=True, exist_ok=True)
    partitions_file.write_text(yaml.safe_dump(partitions(args), sort_keys=False))
    config_file.write_text(
        "# Written by cornbert-slurm-profile: the site's part of a SLURM run (the workflow's part is in its\n"
        "# rules and profiles/default/). Use: snakemake --profile slurm\n"
        + yaml.safe_dump(profile(args, partitions_file.resolve()), sort_keys=False)
    )
    print(f"wrote {config_file} and {partitions_file}; run: snakemake --profile slurm")


if __name__ == "__main__":
    main()
