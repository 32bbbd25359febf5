"""Recovery after Snakemake itself is killed, by the commands the README gives (its "Trace and resume" paragraph)."""

import json
import os
import shlex
import signal
import subprocess
import sys
import time

import pytest
import yaml
from conftest import ROOT, SHARED_ASSETS, workflow_copy

JOB = "results/calibration/thermal_temperatures/noisy1/dfols/start1"
# the killed run's own arguments, added to each README command as the README says: one calibration job only
OVERLAY = {
    "calibration": {"problems": ["thermal_temperatures"]},
    "problems": {"thermal_temperatures": {"optimizers": ["dfols"]}},
}
ARGUMENTS = [
    "--cores",
    "1",
    "--configfile",
    ".test/config.yaml",
    "recovery.yaml",
    "--config",
    f"scope_assets={SHARED_ASSETS}",
    "--",
    f"{JOB}/result.json",
]


def readme_recovery_commands() -> list[list[str]]:
    """The commands of the README's "Trace and resume" paragraph, as written there."""
    text = (ROOT / "README.md").read_text()
    paragraph = text.split("**Trace and resume.**", 1)[1].split("\n**", 1)[0]
    commands = [shlex.split(line) for line in paragraph.splitlines() if line.startswith("    snakemake")]
    assert commands, "the README's 'Trace and resume' paragraph gives no snakemake command"
    return commands


def snakemake(args, cwd, **kwargs):
    return subprocess.Popen([sys.executable, "-m", *args], cwd=cwd, text=True, **kwargs)


def run(args, cwd) -> str:
    process = snakemake(args, cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output = process.communicate()[0]
    assert process.returncode == 0, f"{shlex.join(args)} failed:\n{output}"
    return output


@pytest.mark.e2e
def test_readme_commands_resume_a_killed_snakemake(tmp_path):
    work = workflow_copy(tmp_path / "work")
    (work / "recovery.yaml").write_text(yaml.safe_dump(OVERLAY))
    job = work / JOB

    # the uninterrupted run (and the chain before the job, which the killed run then finds done)
    run(["snakemake", *ARGUMENTS], work)
    uninterrupted = json.loads((job / "result.json").read_text())
    for path in job.iterdir():
        path.unlink()

    # the same job again, Snakemake's whole process group killed mid-way through it
    process = snakemake(
        ["snakemake", *ARGUMENTS], work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    record = job / "evaluations.jsonl"
    deadline = time.time() + 300
    while (not record.exists() or len(record.read_text().splitlines()) < 3) and time.time() < deadline:
        assert process.poll() is None, "snakemake ended before the job had run three evaluations"
        time.sleep(0.01)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    done_before_kill = len(record.read_text().splitlines())
    assert 3 <= done_before_kill < uninterrupted["evaluations"], "the job was not killed mid-way"
    assert not (job / "result.json").exists()

    # what the README warns about: the lock stays behind
    locked = snakemake(
        ["snakemake", "--rerun-incomplete", *ARGUMENTS], work, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert "Directory cannot be locked" in locked.communicate()[0] and locked.returncode != 0

    for command in readme_recovery_commands():
        run([*command, *ARGUMENTS], work)
    resumed = json.loads((job / "result.json").read_text())
    assert resumed["replayed_evaluations"] >= done_before_kill - 1  # the line being written at the kill may be torn
    assert resumed["replayed_evaluations"] > 0
    for key in ("evaluations", "gradient_evaluations", "parameters_final", "final_misfit", "stop_reason"):
        assert resumed[key] == uninterrupted[key], key
    lines = [json.loads(line) for line in record.read_text().splitlines()]
    assert [line["evaluation"] for line in lines] == list(range(1, uninterrupted["evaluations"] + 1))
