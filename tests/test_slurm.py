"""The workflow on a real one-node Slurm cluster (.ci/slurm-ci.sh) with --profile profiles/slurm: the two-site test
config (.test/sites.yaml), each site's small preparation jobs as one group job.

The node has two partitions, `cpu` (default) and `gpu`, and no GPU: the run keeps the GPU partition routing of
the SCOPE-heavy rules but sets `cluster.gpu: false`, since a `--gpus` request would be refused. That the GPU
request itself reaches sbatch is checked separately, by Slurm refusing it. Run with `pytest -s` to see timings.
"""

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import xarray as xr
from conftest import ROOT, workflow_copy

pytestmark = pytest.mark.slurm

CLUSTER_SCRIPT = ROOT / ".ci/slurm-ci.sh"
# on top of .test/config.yaml and .test/sites.yaml: routing to the gpu partition without a GPU (the node has none),
# and two of the four SCOPE workflows, to keep the test near 2 minutes on 2 cores
NODE_CONFIG = "cluster:\n  gpu: false\n  gpu_partition: gpu\nscope:\n  workflows: [reflectance, energy-balance]\n"
SITES = ("belgium", "france_synthetic")
# the forward chain of both sites only (16 jobs, 6 through sbatch), whatever else the default target asks for
TARGETS = ("--", *(f"results/sites/{site}/forward/{w}.nc" for site in SITES for w in ("reflectance", "energy-balance")))
# test-only executor settings: no accounting database (poll with squeue), short jobs (poll after 8 s)
SLURM_TEST_ARGS = ("--slurm-status-command", "squeue", "--slurm-init-seconds-before-status-checks", "8")
PID_FILES = ("/run/slurmd.pid", "/run/slurmctld.pid", "/run/munge/munged.pid")
RUN_TIMEOUT_S = 600


def cluster(action):
    started = time.monotonic()
    result = subprocess.run(["bash", str(CLUSTER_SCRIPT), action], capture_output=True, text=True, timeout=300)
    return result, time.monotonic() - started


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.fixture(scope="module")
def slurm_cluster():
    """Bring the cluster up (skipping where that cannot be done) and tear it down afterwards."""
    if sys.platform != "linux" or os.geteuid() != 0:
        pytest.skip("a one-node Slurm cluster needs root on Linux")
    if not (shutil.which("slurmctld") or shutil.which("apt-get")):
        pytest.skip("Slurm is not installed and apt-get is not there to install it")
    result, up_s = cluster("up")
    if result.returncode == 3:  # a Slurm configuration that the script did not write: not ours to change
        pytest.skip(result.stderr.strip())
    if result.returncode == 4:  # daemons of an earlier run: not ours to stop
        pytest.fail(result.stderr.strip())
    pids = [int(Path(f).read_text()) for f in PID_FILES if Path(f).is_file()]
    timings = {"cluster up": up_s}
    try:
        assert result.returncode == 0, f"slurm-ci.sh up failed:\n{result.stdout}\n{result.stderr}"
        yield timings
    finally:
        result, timings["cluster down"] = cluster("down")
        print(f"\ncluster down: {timings['cluster down']:.1f} s")
        assert result.returncode == 0, f"slurm-ci.sh down failed:\n{result.stdout}\n{result.stderr}"
        assert not [pid for pid in pids if alive(pid)], "a Slurm or munge daemon is still running"


def node_workflow_copy(path):
    """A scratch copy of the workflow with the single-node overrides beside it."""
    workflow_copy(path)
    (path / "node.yaml").write_text(NODE_CONFIG)
    return path


def snakemake(workdir, scope_assets, *args, check=True):
    """Run the test config in ``workdir``; return the result and its wall time in seconds."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "--configfile",
        ".test/config.yaml",
        ".test/sites.yaml",
        "node.yaml",
        "--config",
        f"scope_assets={scope_assets}",
        *args,
    ]
    started = time.monotonic()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout}\n{result.stderr}")
    return result, time.monotonic() - started


def slurm_jobs(log):
    """{Slurm job id: (rule, partition, state, elapsed)} of the jobs that Snakemake says it submitted."""
    ids = re.findall(r"has been submitted with SLURM jobid (\d+)", log)
    assert ids, f"no job went through sbatch:\n{log}"
    listing = subprocess.run(
        ["squeue", "--states=all", "--noheader", "--jobs", ",".join(ids), "-o", "%i|%k|%P|%T|%M"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    jobs = {}
    for line in listing.split():
        job_id, comment, partition, state, elapsed = line.split("|")
        rule = re.fullmatch(r"rule_(\w+?)(_wildcards_.*)?", comment).group(1)  # the plugin's --comment
        jobs[job_id] = (rule, partition, state, elapsed)
    assert sorted(jobs) == sorted(ids), f"squeue does not know all submitted jobs: {ids} vs\n{listing}"
    return jobs


@pytest.fixture(scope="module")
def runs(slurm_cluster, scope_assets, tmp_path_factory):
    """The same config run locally and through Slurm, with timings."""
    base = tmp_path_factory.mktemp("slurm")
    local = node_workflow_copy(base / "local")
    _, slurm_cluster["local run"] = snakemake(local, scope_assets, "--cores", "2", *TARGETS)
    on_slurm = node_workflow_copy(base / "slurm")
    result, slurm_cluster["slurm run"] = snakemake(
        on_slurm, scope_assets, "--profile", "profiles/slurm", *SLURM_TEST_ARGS, *TARGETS
    )
    jobs = slurm_jobs(result.stdout + result.stderr)
    print("\n" + "\n".join(f"{name}: {seconds:.1f} s" for name, seconds in slurm_cluster.items()))
    print("Slurm job  rule       partition  state      elapsed")
    for job_id, (rule, partition, state, elapsed) in sorted(jobs.items(), key=lambda item: int(item[0])):
        print(f"{job_id:>9}  {rule:<10} {partition:<10} {state:<10} {elapsed}")
    return local, on_slurm, jobs


def test_every_job_went_through_sbatch_to_its_partition(runs):
    """Each site's retrieval, weather, bridge, geometry and inputs as one group job (`prepare`), each forward run on
    its own."""
    _, _, jobs = runs
    rules = sorted(rule for rule, *_ in jobs.values())
    # a group job's comment names the group and its rules
    assert rules == ["forward"] * 4 + ["prepare_bridge_geometry_inputs_retrieval_weather"] * 2
    for job_id, (rule, partition, state, _) in jobs.items():
        assert state == "COMPLETED", f"Slurm job {job_id} ({rule}) is {state}"
        assert partition == ("gpu" if rule == "forward" else "cpu"), f"Slurm job {job_id} ({rule}) ran in {partition}"


def test_outputs_equal_the_local_run(runs):
    local, on_slurm, _ = runs
    files = sorted(path.relative_to(local) for path in (local / "results").rglob("*.nc"))
    assert files == sorted(path.relative_to(on_slurm) for path in (on_slurm / "results").rglob("*.nc"))
    assert len(files) == 14  # per site: bridge, weather, geometry, 2 inputs, 2 forward
    for name in files:
        with xr.open_dataset(local / name) as expected, xr.open_dataset(on_slurm / name) as actual:
            # data variables and coordinates only: the provenance attributes carry creation times
            xr.testing.assert_allclose(actual, expected, rtol=1e-9, atol=1e-12)


def test_forward_log_says_which_device_it_used(runs):
    _, on_slurm, _ = runs
    logs = sorted((on_slurm / "results/sites").glob("*/logs/forward/*.log"))
    assert [log.stem for log in logs] == ["energy-balance", "reflectance"] * 2
    for log in logs:
        assert f"{log.stem} on cpu (float64), 1 threads" in log.read_text()  # no GPU on the test node


def test_gpu_request_reaches_sbatch(runs, scope_assets, tmp_path):
    """With cluster.gpu true the forward job asks Slurm for a GPU, which this GPU-less cluster refuses."""
    _, on_slurm, _ = runs
    work = shutil.copytree(on_slurm, tmp_path / "gpu")
    (work / "node.yaml").write_text(NODE_CONFIG.replace("gpu: false", "gpu: true"))
    target = "results/sites/belgium/forward/reflectance.nc"
    # mtime triggers only: the changed config must not rerun the upstream jobs
    result, _ = snakemake(
        work,
        scope_assets,
        "--profile",
        "profiles/slurm",
        *SLURM_TEST_ARGS,
        "--retries",
        "0",
        "--rerun-triggers",
        "mtime",
        "--forcerun",
        target,
        "--",
        target,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    call = re.search(r"sbatch call:\s*\n\s*(sbatch .*)", output).group(1)
    assert " -p gpu " in call and " --gpus=1 " in call
    assert "Invalid generic resource (gres) specification" in output
