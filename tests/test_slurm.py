"""The Snakemake workflow on a live SLURM cluster: examples/profiles/slurm, tested for real.

A throw-away single-node cluster is started for the test (munged, slurmctld and slurmd on
localhost, run as root, everything under a temporary directory: a private munge key and socket,
slurm.conf, state, spool and logs; ports picked free on 127.0.0.1). The bundled workflow is then
submitted through Snakemake's SLURM executor plugin with the shipped profile, and the test checks:

- every cluster rule ran as a SLURM job and got the CPUs, memory and time limit the workflow
  config asks for (read back with `scontrol show job`: the cluster keeps finished jobs for an hour,
  MinJobAge=3600, as it has no accounting database);
- a job killed mid-way with `scancel` (prune) fails the run and leaves nothing under its output
  name and no temporary files; results/failed.tsv names it; resubmitting reruns it cleanly;
- the results equal a local run's with the same seed: the same files, byte-identical (models,
  tables, MEME motifs, logos, figures) but for wall-clock columns and benchmark records;
- a further submission does nothing and submits no job.

Snakemake's slurm-jobstep plugin drops SLURM_CONF before the `srun` inside each job, so a small
`srun` wrapper on the jobs' PATH points it at this cluster's slurm.conf (a real cluster's is in
/etc/slurm, where srun looks by default; the test does not touch /etc).

Job status: the cluster has no accounting (no slurmdbd), so `sacct` cannot answer and the plugin's
default status command would never see a job finish; the test uses the plugin's
`--slurm-status-command squeue` (squeue --states=all lists finished jobs for MinJobAge seconds).
A site with slurmdbd keeps the default, sacct (see profiles/slurm/config.yaml).

Needs root, Debian's `slurm-wlm` and `munge` packages (`.ci/install-slurm` installs them) and
snakemake with snakemake-executor-plugin-slurm; skipped with the reason otherwise. Every daemon and
every process started under the cluster is stopped at the end, whatever happens.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from test_workflow import _copy_examples, _explain, _read_tsv, _snakemake, _workflow_env

SBIN = os.pathsep.join(("/usr/sbin", "/usr/bin", "/sbin", "/bin"))
DAEMONS = ("munged", "slurmctld", "slurmd")
CLIENTS = ("munge", "unmunge", "sbatch", "squeue", "scontrol", "scancel", "sinfo", "srun")
NODE_CPUS = 2
NODE_MEM_MB = 6000


def _skip_reason() -> str | None:
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "needs root (slurmd runs jobs as root; munged and slurmctld run as this user)"
    path = os.pathsep.join((os.environ.get("PATH", ""), SBIN))
    absent = [exe for exe in DAEMONS + CLIENTS if shutil.which(exe, path=path) is None]
    if absent:
        return f"SLURM/munge not installed ({', '.join(absent)} missing): apt-get install slurm-wlm munge, or .ci/install-slurm"
    for mod, pkg in (("snakemake", "snakemake"), ("snakemake_executor_plugin_slurm", "snakemake-executor-plugin-slurm")):
        if importlib.util.find_spec(mod) is None:
            return f"{pkg} is not installed (pip install {pkg})"
    return None


pytestmark = [pytest.mark.slurm, pytest.mark.slow, pytest.mark.skipif(_skip_reason() is not None, reason=str(_skip_reason()))]


# ---- a throw-away single-node cluster ------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(what: str, check, timeout: float, interval: float = 0.5, explain=lambda: ""):
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s\n{explain()}")
        time.sleep(interval)


class Cluster:
    """munged + slurmctld + slurmd on localhost, all state under ``root``."""

    def __init__(self, root: Path):
        self.root = root
        self.token = uuid.uuid4().hex  # marks every process this cluster starts (see _ours)
        self.host = socket.gethostname().split(".")[0]
        for d in ("munge-key", "munge", "state", "spool", "log", "run"):
            (root / d).mkdir(parents=True, exist_ok=True)
            os.chmod(root / d, 0o700 if d == "munge-key" else 0o755)
        self.socket = root / "munge" / "munge.socket"
        self.conf = root / "slurm.conf"
        self.bin = root / "bin"  # an srun that finds this slurm.conf (see write_config)
        self.env = dict(
            os.environ,
            PATH=os.pathsep.join((str(self.bin), os.environ.get("PATH", ""), SBIN)),
            SLURM_CONF=str(self.conf),
            DEEPPRUNE_TEST_SLURM=self.token,
        )
        self.procs: dict[str, subprocess.Popen] = {}

    # -- configuration

    def write_config(self) -> None:
        # Snakemake's slurm-jobstep plugin runs each job's command with `srun` after dropping the
        # SLURM_* variables, SLURM_CONF among them, so the srun inside a job would look for
        # /etc/slurm/slurm.conf. A real cluster's config is there; this one's is not, and the
        # test does not touch /etc: a wrapper first on the jobs' PATH points srun at it.
        self.bin.mkdir(exist_ok=True)
        srun = shutil.which("srun", path=os.pathsep.join((os.environ.get("PATH", ""), SBIN)))
        (self.bin / "srun").write_text(f'#!/bin/sh\nSLURM_CONF="{self.conf}" exec "{srun}" "$@"\n')
        os.chmod(self.bin / "srun", 0o755)
        key = self.root / "munge-key" / "munge.key"
        key.write_bytes(os.urandom(1024))
        os.chmod(key, 0o600)
        r = self.root
        self.conf.write_text(
            f"""\
ClusterName=deepprunetest
SlurmctldHost={self.host}(127.0.0.1)
SlurmctldPort={_free_port()}
SlurmdPort={_free_port()}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={self.socket}
CredType=cred/munge
StateSaveLocation={r}/state
SlurmdSpoolDir={r}/spool
SlurmctldPidFile={r}/run/slurmctld.pid
SlurmdPidFile={r}/run/slurmd.pid
SlurmctldLogFile={r}/log/slurmctld.log
SlurmdLogFile={r}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
MpiDefault=none
SwitchType=switch/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
# finished jobs stay visible to squeue/scontrol for an hour (there is no accounting database)
MinJobAge=3600
# SIGTERM to SIGKILL: Slurm's default 30 s; deepprune's cleanup on SIGTERM can take a few seconds
# on a loaded 2-core machine, and a shorter wait turned it into a SIGKILL (no message, flaky test)
KillWait=30
ReturnToService=2
SlurmdTimeout=60
InactiveLimit=0
NodeName={self.host} NodeAddr=127.0.0.1 CPUs={NODE_CPUS} RealMemory={NODE_MEM_MB} State=UNKNOWN
PartitionName=test Nodes={self.host} Default=YES MaxTime=INFINITE State=UP
"""
        )

    # -- daemons

    def _start(self, name: str, argv: list[str]) -> None:
        log = open(self.root / "log" / f"{name}.out", "wb")
        try:
            self.procs[name] = subprocess.Popen(
                argv, env=self.env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        finally:
            log.close()

    def _check_alive(self) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"{name} exited ({p.returncode}):\n{self.logs()}")

    def logs(self, tail: int = 3000) -> str:
        out = []
        for f in sorted((self.root / "log").iterdir()):
            out.append(f"--- {f.name}\n{f.read_text(errors='replace')[-tail:]}")
        return "\n".join(out)

    def start(self) -> None:
        self.write_config()
        r = self.root
        self._start("munged", ["munged", "-F", f"--socket={self.socket}", f"--key-file={r}/munge-key/munge.key",
                               f"--pid-file={r}/run/munged.pid", f"--log-file={r}/log/munged.log",
                               f"--seed-file={r}/munge-key/munged.seed", "--force"])  # fmt: skip
        _wait("munged", lambda: self._check_alive() or self.run("munge", "-n", "-S", str(self.socket), check=False).returncode == 0,
              20, explain=self.logs)  # fmt: skip
        self._start("slurmctld", ["slurmctld", "-D", "-c", "-f", str(self.conf)])
        _wait("slurmctld", lambda: self._check_alive() or self.run("scontrol", "ping", check=False).stdout.count("UP") > 0,
              60, explain=self.logs)  # fmt: skip
        self._start("slurmd", ["slurmd", "-D", "-N", self.host, "-f", str(self.conf)])

        def idle():
            self._check_alive()
            state = self.run("sinfo", "-h", "-N", "-o", "%T", check=False).stdout.strip()
            return state.startswith("idle")

        _wait("slurmd registered, node idle", idle, 90, explain=self.logs)

    def run(self, *argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess:
        proc = subprocess.run(list(argv), env=self.env, capture_output=True, text=True, timeout=timeout)
        if check and proc.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}\n{proc.stderr}")
        return proc

    def _ours(self) -> list[int]:
        """Every live process started under this cluster (daemons, slurmstepd, job processes,
        snakemake runs given self.env): found by the unique token in its environment."""
        mark = f"DEEPPRUNE_TEST_SLURM={self.token}".encode()
        pids = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit() or int(entry) == os.getpid():
                continue
            try:
                with open(f"/proc/{entry}/environ", "rb") as fh:
                    if mark in fh.read().split(b"\0"):
                        pids.append(int(entry))
            except OSError:
                pass
        return pids

    def stop(self) -> list[int]:
        """Cancel every job, stop the daemons, kill anything of ours left; return what was left
        running after the orderly stop (for the test to assert on)."""
        if "slurmctld" in self.procs and self.procs["slurmctld"].poll() is None:
            try:
                self.run("scancel", "--full", "-p", "test", check=False, timeout=15)
                _wait("jobs ended", lambda: not self.run("squeue", "-h", "-t", "PD,R,CG", check=False).stdout.strip(), 30)
            except (TimeoutError, subprocess.TimeoutExpired, OSError):
                pass
        for name in ("slurmd", "slurmctld", "munged"):
            p = self.procs.get(name)
            if p is None or p.poll() is not None:
                continue
            try:
                os.killpg(p.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=10)
        left = self._ours()
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if left:
            _wait("leftover processes killed", lambda: not self._ours(), 10)
        return left

    # -- jobs

    def jobs(self) -> list[dict]:
        """Every job slurmctld knows (finished ones too, for MinJobAge), as key -> value."""
        out = self.run("scontrol", "show", "job", "-o").stdout
        jobs = []
        for line in out.splitlines():
            if not line.startswith("JobId="):
                continue
            fields = {}
            for tok in line.split(" "):
                if "=" in tok:
                    k, v = tok.split("=", 1)
                    fields.setdefault(k, v)
            jobs.append(fields)
        return jobs


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("slurm"))
    try:
        c.start()
        yield c
    finally:
        left = c.stop()
        if left:
            print(f"killed {len(left)} leftover process(es) of the test cluster: {left}", file=sys.stderr)


# ---- the workflow on it -------------------------------------------------------------------------

# one experiment; distinct resources per rule, so the check below cannot pass by accident
SLURM_CONFIG = """\
datasets: [GABPA]
seed: 3
train: {{epochs: 3, patience: 2}}
prune: {{kernels: 2, rounds: 1, epochs: 8, patience: 8}}
logos: {{extra: "--min-sites 1 --min-bits 0"}}
threads: {{shuffle: 1, train: 2, prune: 1, evaluate: 1, logos: 1}}
mem_mb: {{shuffle: 500, train: 1200, prune: 1500, evaluate: 800, logos: 700}}
runtime: {{shuffle: 5, train: 15, prune: 20, evaluate: 7, logos: 9}}
python: "{python}"
"""
CLUSTER_RULES = ("shuffle", "train", "prune", "evaluate", "logos")
# outputs holding wall-clock times, compared without them (every other file must be byte-identical)
TIMED = {"summary.tsv": {"fit_seconds"}, "GABPA/prune/summary.tsv": {"seconds"}}
UNTIMED_PREFIXES = ("benchmarks/", "costs.tsv")


def _prepare(dest: Path, tmp_path: Path) -> tuple[Path, dict]:
    work = _copy_examples(dest)
    (work / "slurm.yaml").write_text(SLURM_CONFIG.format(python=sys.executable))
    return work, _workflow_env(tmp_path)


def _slurm_args(*extra: str) -> list[str]:
    # the shipped profile; the status command chosen for a cluster without accounting, and a
    # shorter first status check than the plugin's 40 s so the test does not idle
    return ["--workflow-profile", "profiles/slurm", "--configfile", "slurm.yaml",
            "--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "5", *extra]  # fmt: skip


def _timing(timings: dict) -> str:
    return ", ".join(f"{k} {v:.0f} s" for k, v in timings.items())


def _strip_seconds(path: Path, drop: set) -> list[list[str]]:
    header, rows = _read_tsv(path)
    return [[c for c in header if c not in drop]] + [[r[c] for c in header if c not in drop] for r in rows]


def _strip_time_cells(path: Path) -> str:
    return re.sub(r'<td class="[^"]*\btime\b[^"]*">[^<]*</td>', "", path.read_text(encoding="utf-8"))


def _first_prune_runs_until_cancelled(tmp_path: Path, path: str) -> Path:
    """A directory holding a `deepprune` that runs the first `prune` it is asked for with an epoch
    limit and patience it never reaches, so that scancel always finds that job mid-way (a tiny
    prune can otherwise finish on a fast machine before the cancel lands); every other call, the
    rerun of prune included, is the plain command, so the results still equal the local run's."""
    import shlex

    real = shutil.which("deepprune", path=path)
    assert real, "no deepprune on PATH"
    hold = tmp_path / "hold"
    hold.mkdir()
    marker = shlex.quote(str(tmp_path / "first_prune_started"))
    shim = hold / "deepprune"
    shim.write_text(
        "#!/bin/sh\n"
        f'if [ "$1" = prune ] && [ ! -e {marker} ]; then\n'
        f"    : > {marker}\n"
        f'    exec {shlex.quote(real)} "$@" --epochs 100000 --patience 100000\n'
        "fi\n"
        f'exec {shlex.quote(real)} "$@"\n'
    )
    shim.chmod(0o755)
    return hold


def test_workflow_on_a_live_slurm_cluster(cluster, tmp_path):
    timings = {}

    # 1. the reference: the same config run locally (beside the first submission, which mostly waits)
    local, env_local = _prepare(tmp_path / "local", tmp_path)
    t_local = time.monotonic()
    local_log = open(tmp_path / "local.log", "w")
    local_run = subprocess.Popen([sys.executable, "-m", "snakemake", "--cores", "2", "--configfile", "slurm.yaml"], cwd=local,
                                 env=dict(env_local, DEEPPRUNE_TEST_SLURM=cluster.token), stdout=local_log,
                                 stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip

    work, env = _prepare(tmp_path / "cluster", tmp_path)
    hold = _first_prune_runs_until_cancelled(tmp_path, env["PATH"])
    env = dict(env, SLURM_CONF=str(cluster.conf), DEEPPRUNE_TEST_SLURM=cluster.token,
               PATH=os.pathsep.join((str(hold), str(cluster.bin), env["PATH"], SBIN)))
    res = work / "results"

    # 2. first submission; prune is cancelled mid-way (once its work directory exists, i.e. the
    # data are loaded and training has begun; this first prune trains until cancelled). --retries 0 so the failure stays visible here
    # (the profile's retries: 1 would resubmit it at once).
    t0 = time.monotonic()
    log = open(tmp_path / "submission1.log", "w")
    sm = subprocess.Popen([sys.executable, "-m", "snakemake", *_slurm_args("--retries", "0")], cwd=work, env=env,
                          stdout=log, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        def prune_running():
            assert sm.poll() is None, (tmp_path / "submission1.log").read_text()[-4000:]
            if not (res / "GABPA" / ".prune.partial").is_dir():
                return None
            for j in cluster.jobs():
                if j.get("Comment", "").startswith("rule_prune_") and j["JobState"] == "RUNNING":
                    return j["JobId"]
            return None

        prune_id = _wait("prune running", prune_running, 300, interval=0.2)
        cluster.run("scancel", prune_id)
        rc = sm.wait(timeout=300)
    finally:
        if sm.poll() is None:
            os.killpg(sm.pid, signal.SIGKILL)
            sm.wait(timeout=30)
        log.close()
    timings["submission with scancel"] = time.monotonic() - t0
    out1 = (tmp_path / "submission1.log").read_text()
    assert rc != 0, out1[-4000:]
    state = {j["JobId"]: j for j in cluster.jobs()}[prune_id]
    assert state["JobState"] == "CANCELLED", state
    # deepprune got the SIGTERM, cleaned up and said so; nothing under the output name, no temp files
    assert "deepprune: error: terminated" in (work / "logs" / "GABPA" / "prune.log").read_text()
    assert not (res / "GABPA" / "prune").exists()
    assert not list(res.rglob("*.tmp")) and not list(res.rglob("*.old"))
    # (deepprune keeps the completed stages in the hidden .prune.partial/ for `prune --resume`;
    # the workflow does not resume, and the rerun below starts over and removes it)
    assert not (res / "summary.tsv").exists()
    assert (res / "GABPA" / "model" / "config.json").is_file()  # train finished before, and is kept
    # the workflow's report of the failed run names the experiment, the step and the error
    _, failed = _read_tsv(res / "failed.tsv")
    assert [(f["dataset"], f["step"]) for f in failed] == [("GABPA", "prune")] and "terminated" in failed[0]["reason"]

    try:
        local_rc = local_run.wait(timeout=600)
    finally:
        if local_run.poll() is None:
            os.killpg(local_run.pid, signal.SIGKILL)
            local_run.wait(timeout=30)
        local_log.close()
    timings["local run"] = time.monotonic() - t_local
    assert local_rc == 0, (tmp_path / "local.log").read_text()[-4000:]

    # 3. resubmission: prune (from scratch) and the steps after it
    t0 = time.monotonic()
    proc = _snakemake(work, env, *_slurm_args(), timeout=600)
    timings["resubmission"] = time.monotonic() - t0
    assert proc.returncode == 0, _explain(proc, work) + proc.stdout[-3000:]
    assert not list(res.rglob("*.tmp")) and not list(res.rglob("*.partial")) and not (res / "GABPA" / ".prune.partial").exists()
    assert not (res / "failed.tsv").exists() and not (res / "partial").exists()  # the stale report is gone

    # every cluster rule ran as a SLURM job with the config's cpus, memory and time limit
    jobs = cluster.jobs()
    by_rule: dict = {}
    for j in jobs:
        m = re.match(r"rule_(\w+?)_wildcards_GABPA$", j.get("Comment", ""))
        if m:
            by_rule.setdefault(m.group(1), []).append(j)
    assert sorted(by_rule) == sorted(CLUSTER_RULES), jobs
    assert [j["JobState"] for j in by_rule["prune"]] == ["CANCELLED", "COMPLETED"]
    config = {"threads": {"shuffle": 1, "train": 2, "prune": 1, "evaluate": 1, "logos": 1},
              "mem_mb": {"shuffle": 500, "train": 1200, "prune": 1500, "evaluate": 800, "logos": 700},
              "runtime": {"shuffle": 5, "train": 15, "prune": 20, "evaluate": 7, "logos": 9}}  # fmt: skip
    for rule in CLUSTER_RULES:
        done = [j for j in by_rule[rule] if j["JobState"] == "COMPLETED"]
        assert len(done) == 1, by_rule[rule]
        j = done[0]
        assert int(j["NumCPUs"]) == config["threads"][rule], (rule, j)
        assert j["MinMemoryNode"] == f"{config['mem_mb'][rule]}M", (rule, j)
        h, m, s = map(int, j["TimeLimit"].split(":"))
        assert h * 60 + m == config["runtime"][rule] and s == 0, (rule, j)
        assert j["ExitCode"] == "0:0" and j["Partition"] == "test", (rule, j)
    # the cross-experiment rules ran on the submitting host, not as jobs
    assert not any(re.match(r"rule_(aggregate|collect_motifs|costs|deepprune_version|report)", j.get("Comment", "")) for j in jobs)

    # the same results as the local run: the same files, byte for byte (models, tables, MEME
    # motifs, logos, figures), except the wall-clock columns and the benchmark records
    lres = local / "results"
    files = sorted(str(p.relative_to(lres)) for p in lres.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(res)) for p in res.rglob("*") if p.is_file())
    assert len(files) > 30 and any(f.endswith("motifs.meme") for f in files) and any(f.endswith(".png") for f in files)
    for rel in files:
        if rel in TIMED:
            assert _strip_seconds(res / rel, TIMED[rel]) == _strip_seconds(lres / rel, TIMED[rel]), rel
        elif rel.endswith(".html"):  # the report: wall-clock cells carry class "time"
            assert _strip_time_cells(res / rel) == _strip_time_cells(lres / rel), rel
        elif not rel.startswith(UNTIMED_PREFIXES):
            assert (res / rel).read_bytes() == (lres / rel).read_bytes(), rel
    _, costs = _read_tsv(res / "costs.tsv")
    assert sorted(c["step"] for c in costs) == sorted(CLUSTER_RULES)

    # 4. a further submission does nothing and submits nothing
    outputs = sorted(p for p in res.rglob("*") if p.is_file())
    before = {p: p.stat().st_mtime_ns for p in outputs}
    t0 = time.monotonic()
    again = _snakemake(work, env, *_slurm_args(), timeout=300)
    timings["third submission"] = time.monotonic() - t0
    assert again.returncode == 0, _explain(again, work)
    assert "Nothing to be done" in again.stdout + again.stderr
    assert len(cluster.jobs()) == len(jobs)
    assert {p: p.stat().st_mtime_ns for p in outputs} == before
    print(f"slurm test timings: {_timing(timings)}")
