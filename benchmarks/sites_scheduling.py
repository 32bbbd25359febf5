"""Scheduling overhead of many sites: the same N-site run locally and through Slurm (profiles/slurm).

For each N, writes an N-site config over .test/config.yaml (the test suite: sif_fqe on every site, thermal_temperatures
on france_synthetic, Gauss-Newton, fluorescence and thermal workflows; sites beyond the two of .test/sites.yaml are
copies of them with another synthetic crop state), runs its whole default target in a fresh copy of the workflow
with `--cores 2`, then in another fresh copy with `--profile profiles/slurm`, and prints the wall times, the jobs,
the sbatch submissions (each site's preparation jobs are one group job) and the Slurm overhead per submission:
(Slurm wall time - local wall time) / submissions. Both runs use the machine's 2 cores (the one-node cluster has
2 CPUs). Needs a running Slurm cluster (`bash .ci/slurm-ci.sh up`, as root); run from the repository root:

    python benchmarks/sites_scheduling.py --sites 2 4 --scope-assets ../shared/scope-upstream
"""

from __future__ import annotations

import argparse
import copy
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
COPIED = ("Snakefile", "workflow", "config", "profiles", "envs", ".test", "examples")
NODE = {"cluster": {"gpu": False, "gpu_partition": "gpu"}}  # the test node has no GPU (tests/test_slurm.py)
# squeue instead of sacct (no accounting database) and a short first status check, as tests/test_slurm.py
SLURM_ARGS = ("--profile", "profiles/slurm", "--slurm-status-command", "squeue")
SLURM_ARGS += ("--slurm-init-seconds-before-status-checks", "8")


def sites_config(n_sites: int) -> dict:
    """.test/sites.yaml with n_sites sites: its two, then copies of them with another synthetic seed."""
    config = yaml.safe_load((ROOT / ".test/sites.yaml").read_text())
    sites = config["sites"]
    base = list(sites.items())
    for index in range(len(sites), n_sites):
        name, site = base[index % len(base)]
        extra = copy.deepcopy(site or {})
        extra["retrieval"] = {"synthetic": {"seed": 100 + index}}
        sites[f"{name}_{index + 1}"] = extra
    config["sites"] = dict(list(sites.items())[:n_sites])
    return {**config, **NODE}


def run(n_sites: int, scope_assets: str, scratch: Path, *executor: str) -> tuple[float, str]:
    work = scratch / f"{n_sites}_{'slurm' if executor[0] == '--profile' else 'local'}"
    work.mkdir()
    for name in COPIED:
        (shutil.copytree if (ROOT / name).is_dir() else shutil.copy)(ROOT / name, work / name)
    (work / "sites.yaml").write_text(yaml.safe_dump(sites_config(n_sites)))
    command = [sys.executable, "-m", "snakemake", *executor, "--configfile", ".test/config.yaml", "sites.yaml"]
    command += ["--config", f"scope_assets={scope_assets}"]
    started = time.monotonic()
    result = subprocess.run(command, cwd=work, capture_output=True, text=True)
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed in {work}:\n{result.stderr[-3000:]}")
    return seconds, result.stdout + result.stderr


def jobs_run(log: str) -> int:
    return int(re.findall(r"(\d+) of \d+ steps \(100%\) done", log)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, nargs="+", default=[2, 4])
    parser.add_argument("--scope-assets", default=str(ROOT.parent / "shared" / "scope-upstream"))
    args = parser.parse_args()
    if subprocess.run(["sinfo"], capture_output=True).returncode != 0:
        raise SystemExit("no Slurm cluster answers sinfo: bring one up with `bash .ci/slurm-ci.sh up` (root)")
    scope_assets = str(Path(args.scope_assets).resolve())
    print("| sites | jobs | local: wall s | Slurm: wall s | sbatch submissions | Slurm overhead per submission, s |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory(prefix="sites_scheduling_") as scratch:
        for n_sites in args.sites:
            local_s, local_log = run(n_sites, scope_assets, Path(scratch), "--cores", "2")
            slurm_s, slurm_log = run(n_sites, scope_assets, Path(scratch), *SLURM_ARGS)
            submissions = len(re.findall(r"has been submitted with SLURM jobid", slurm_log))
            overhead = (slurm_s - local_s) / submissions
            row = [n_sites, jobs_run(local_log), f"{local_s:.0f}", f"{slurm_s:.0f}", submissions, f"{overhead:.1f}"]
            print("| " + " | ".join(map(str, row)) + " |", flush=True)


if __name__ == "__main__":
    main()
