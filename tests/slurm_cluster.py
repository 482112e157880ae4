"""A real single-node Slurm cluster for the tests: munged, slurmctld and slurmd from Debian's packages.

Everything lives in one scratch folder (config, state, logs, munge key, stand-in GPU device files), except two
links, /etc/slurm/slurm.conf and /etc/slurm/gres.conf: the Snakemake jobstep plugin strips SLURM_CONF before its
inner `srun`, which then only finds the configuration at the default place. A real file there is never replaced.

The cluster keeps two durable records of what it ran, both written by Slurm itself:
- the job completion log (jobcomp/filetxt): job id, state, partition and granted TRES (gres/gpu=N) per job;
- a TaskProlog trace: slurmstepd runs the prolog in every task's own environment before the task starts, so
  each line shows the CUDA_VISIBLE_DEVICES a job's processes really got.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pwd
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SLURM_ETC = Path("/etc/slurm")
LINKED_FILES = ("slurm.conf", "gres.conf")
DAEMONS = ("slurmctld", "slurmd", "munged")
# One cluster per machine at a time: two test sessions would fight over the /etc/slurm links.
LOCK_FILE = Path("/tmp/cornbert-slurm-test.lock")
CPU_PARTITION = "cornbert_cpu"
GPU_PARTITION = "cornbert_gpu"
GPUS_ON_NODE = 2
# The node claims more than the machine has (SlurmdParameters=config_overrides) so that the resource requests
# of profiles/slurm, written for real cluster nodes, are accepted unchanged.
NODE_CPUS = 64
NODE_MEMORY_MB = 512_000


def missing_requirements() -> list[str]:
    """Why a cluster cannot be started here (empty when it can)."""
    problems = []
    if os.geteuid() != 0:
        problems.append("not root (slurmd must run as root)")
    for tool in ("munged", "slurmctld", "slurmd", "sbatch", "squeue", "scontrol", "sinfo", "mknod", "runuser"):
        if shutil.which(tool) is None:
            problems.append(f"`{tool}` not on PATH (tools/install.sh --test installs it)")
    try:
        pwd.getpwnam("munge")
    except KeyError:
        problems.append("no `munge` user (Debian's munge package creates it)")
    for name in LINKED_FILES:
        path = SLURM_ETC / name
        if path.exists() and not path.is_symlink():
            problems.append(f"{path} is a real file: this machine has its own Slurm, which the test will not touch")
    return problems


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _parse_fields(line: str) -> dict[str, str]:
    """`Key=Value Key=Value` (scontrol -o, jobcomp/filetxt) to a dict; values never contain spaces here."""
    fields = {}
    for token in line.split():
        key, sep, value = token.partition("=")
        if sep:
            fields[key] = value
    return fields


@dataclass
class SlurmCluster:
    root: Path
    node: str

    @property
    def conf(self) -> Path:
        return self.root / "etc" / "slurm.conf"

    @property
    def jobcomp_log(self) -> Path:
        return self.root / "jobcomp.log"

    @property
    def task_trace(self) -> Path:
        return self.root / "task_trace.log"

    def env(self) -> dict[str, str]:
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def run(self, *args: str, check: bool = True) -> str:
        done = subprocess.run(args, env=self.env(), capture_output=True, text=True, timeout=60)
        if check and done.returncode != 0:
            raise RuntimeError(f"{shlex.join(args)} failed ({done.returncode}): {done.stderr}{self.daemon_logs()}")
        return done.stdout

    def jobs(self) -> list[dict[str, str]]:
        """slurmctld's view of every job it still holds (MinJobAge keeps finished ones for 10 minutes)."""
        out = self.run("scontrol", "-o", "show", "job", check=False)
        return [_parse_fields(line) for line in out.splitlines() if line.startswith("JobId=")]

    def completed_jobs(self) -> dict[str, dict[str, str]]:
        """The job completion log by job id: written by slurmctld when a job ends, kept for good."""
        if not self.jobcomp_log.exists():
            return {}
        records = (_parse_fields(line) for line in self.jobcomp_log.read_text().splitlines())
        return {record["JobId"]: record for record in records if "JobId" in record}

    def task_environments(self) -> dict[str, list[dict[str, str]]]:
        """TaskProlog trace by job id: one dict per task that ran (batch script and job steps)."""
        traces: dict[str, list[dict[str, str]]] = {}
        if self.task_trace.exists():
            for line in self.task_trace.read_text().splitlines():
                fields = _parse_fields(line)
                traces.setdefault(fields.get("job", ""), []).append(fields)
        return traces

    def wait_until_idle(self, timeout_s: float = 60) -> None:
        """Until the node accepts jobs (state idle) and no job is left pending or running."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.run("sinfo", "-h", "-N", "-o", "%t", check=False).split()
            queue = self.run("squeue", "-h", "-o", "%i", check=False).split()
            if state and all(s == "idle" for s in state) and not queue:
                return
            time.sleep(0.5)
        raise RuntimeError(f"Slurm node not idle after {timeout_s:.0f} s: {state}, queue {queue}{self.daemon_logs()}")

    def daemon_logs(self, tail_lines: int = 30) -> str:
        parts = []
        for name in ("slurmctld", "slurmd", "munged"):
            path = self.root / "log" / f"{name}.log"
            if path.exists():
                tail = path.read_text(errors="replace").splitlines()[-tail_lines:]
                parts.append(f"\n--- {path} (last {tail_lines} lines)\n" + "\n".join(tail))
        return "".join(parts)


def _write_config(root: Path, node: str) -> None:
    for sub in ("etc", "state", "spool", "log", "run", "dev", "munge"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    gpu_files = []
    for index in range(GPUS_ON_NODE):
        device = root / "dev" / f"nvidia{index}"
        # Slurm drops a GPU without a device file; /dev/null's numbers make a harmless stand-in.
        subprocess.run(["mknod", str(device), "c", "1", "3"], check=True)
        gpu_files.append(device)
    (root / "etc" / "gres.conf").write_text(
        "AutoDetect=off\n" + "".join(f"NodeName={node} Name=gpu File={device}\n" for device in gpu_files)
    )
    prolog = root / "etc" / "task_prolog.sh"
    prolog.write_text(
        "#!/bin/sh\n"
        f'echo "job=$SLURM_JOB_ID step=${{SLURM_STEP_ID:-batch}} partition=$SLURM_JOB_PARTITION '
        f'cuda=${{CUDA_VISIBLE_DEVICES:-none}} job_gpus=${{SLURM_JOB_GPUS:-none}}" >> {root / "task_trace.log"}\n'
    )
    prolog.chmod(0o755)
    log, run = root / "log", root / "run"
    (root / "etc" / "slurm.conf").write_text(f"""\
ClusterName=cornbert_test
SlurmctldHost={node}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={root / "munge" / "munge.socket"}
StateSaveLocation={root / "state"}
SlurmdSpoolDir={root / "spool"}
SlurmctldPidFile={run / "slurmctld.pid"}
SlurmdPidFile={run / "slurmd.pid"}
SlurmctldLogFile={log / "slurmctld.log"}
SlurmdLogFile={log / "slurmd.log"}
# No cgroups in a container: track processes by parent id, no task binding, no accounting gatherer.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc={root / "jobcomp.log"}
TaskProlog={prolog}
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=256
SlurmdParameters=config_overrides
ReturnToService=2
# squeue sees finished jobs for this long; the Snakemake plugin needs >= 3 x its first status-check delay.
MinJobAge=600
MpiDefault=none
GresTypes=gpu
NodeName={node} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEMORY_MB} Gres=gpu:{GPUS_ON_NODE} State=UNKNOWN
PartitionName={CPU_PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
PartitionName={GPU_PARTITION} Nodes={node} MaxTime=INFINITE State=UP
""")


def _start_munge(root: Path) -> None:
    munge_dir = root / "munge"
    key = munge_dir / "munge.key"
    key.write_bytes(os.urandom(1024))
    munge_user = pwd.getpwnam("munge")
    for path in (munge_dir, key):
        os.chown(path, munge_user.pw_uid, munge_user.pw_gid)
    key.chmod(0o400)
    munge_dir.chmod(0o755)  # munged insists that every client can reach its socket
    started = subprocess.run(
        [
            "runuser", "-u", "munge", "--", "munged",
            f"--key-file={key}", f"--socket={munge_dir / 'munge.socket'}",
            f"--pid-file={munge_dir / 'munged.pid'}", f"--log-file={munge_dir / 'munged.log'}",
            f"--seed-file={munge_dir / 'munged.seed'}",
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    if started.returncode != 0:
        raise RuntimeError(f"munged did not start: {started.stderr.strip()}")


def _pid_files(root: Path) -> dict[str, Path]:
    return {
        "slurmd": root / "run" / "slurmd.pid",
        "slurmctld": root / "run" / "slurmctld.pid",
        "munged": root / "munge" / "munged.pid",
    }


def _stop_daemons(root: Path) -> None:
    """SIGTERM each daemon by the PID it wrote, then SIGKILL whatever is still alive after 10 s."""
    for name, pid_file in _pid_files(root).items():
        if not pid_file.exists():
            continue
        pid = int(pid_file.read_text().split()[0])
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                os.kill(pid, 0)
                time.sleep(0.1)
            print(f"{name} (pid {pid}) still alive 10 s after SIGTERM: killing it")
            os.kill(pid, signal.SIGKILL)


def _link_config(root: Path) -> list[Path]:
    """Point /etc/slurm/{slurm,gres}.conf at the scratch config; returns the links made (to remove later)."""
    SLURM_ETC.mkdir(exist_ok=True)
    made = []
    for name in LINKED_FILES:
        link = SLURM_ETC / name
        if link.is_symlink():
            # Left by a test session that was killed: the lock proves no other session is using it.
            link.unlink()
        elif link.exists():
            raise RuntimeError(f"{link} is a real file; refusing to replace this machine's Slurm configuration")
        link.symlink_to(root / "etc" / name)
        made.append(link)
    return made


@contextlib.contextmanager
def slurm_cluster() -> Iterator[SlurmCluster]:
    """Start the cluster, wait until its node is idle, yield it; stop it and remove its links afterwards."""
    problems = missing_requirements()
    if problems:
        raise RuntimeError("cannot start a Slurm cluster here: " + "; ".join(problems))
    with open(LOCK_FILE, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        root = Path(tempfile.mkdtemp(prefix="cornbert-slurm-"))
        root.chmod(0o755)  # munged runs as the munge user and must reach its own folder
        cluster = SlurmCluster(root=root, node=socket.gethostname().split(".")[0])
        links: list[Path] = []
        try:
            _write_config(root, cluster.node)
            links = _link_config(root)
            _start_munge(root)
            cluster.run("slurmctld", "-f", str(cluster.conf), "-c")
            cluster.run("slurmd", "-f", str(cluster.conf))
            cluster.wait_until_idle()
            yield cluster
        finally:
            with contextlib.suppress(Exception):
                cluster.run("scancel", "--full", "--user=root", check=False)
                time.sleep(1)
            _stop_daemons(root)
            for link in links:
                if link.is_symlink() and Path(os.readlink(link)).is_relative_to(root):
                    link.unlink()
            if not os.environ.get("CORNBERT_KEEP_SLURM_DIR"):
                shutil.rmtree(root, ignore_errors=True)
