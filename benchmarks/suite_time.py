"""Where a finished suite spent its time: job time per stage, SCOPE's share of the calibration jobs, the longest
job, and each stage's peak memory, from the suite's Snakemake benchmark records and summary.csv.

    python benchmarks/suite_time.py results/paper

Wall time of the whole run is not recorded there: time the run itself (`/usr/bin/time -v snakemake ...`).
"""

import argparse
from pathlib import Path

import pandas as pd

parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("results_dir", type=Path, help="the suite's results_dir (results, results/paper, results/docs)")
folder = parser.parse_args().results_dir
records = sorted((folder / "benchmarks").rglob("*.tsv"))
if not records:
    raise SystemExit(f"{folder}/benchmarks holds no benchmark records: run the suite first")
jobs = pd.DataFrame(
    [
        dict(stage=path.relative_to(folder / "benchmarks").parts[0].removesuffix(".tsv"), job=str(path), **row)
        for path in records
        for row in pd.read_csv(path, sep="\t")[["s", "max_rss"]].to_dict("records")
    ]
)
stages = jobs.groupby("stage").agg(jobs=("s", "size"), job_time_s=("s", "sum"), peak_rss_mb=("max_rss", "max"))
print(stages.sort_values("job_time_s", ascending=False).round(1).to_string())
total = jobs["s"].sum()
print(f"\njob time, all benchmarked jobs: {total:.0f} s ({total / 60:.1f} min)")

summary = pd.read_csv(folder / "calibration/summary.csv")
inside, scope = summary["wall_time_s"].sum(), summary["model_time_s"].sum()
calibration = stages.loc["calibration", "job_time_s"]
print(
    f"calibration jobs: {calibration:.0f} s job time, {inside:.0f} s inside the optimisers, {scope:.0f} s inside SCOPE"
    f" ({100 * scope / inside:.1f}% of optimiser time, {100 * scope / total:.1f}% of all job time);"
    f" {summary['evaluations'].sum()} model evaluations"
)
longest = summary.loc[summary["wall_time_s"].idxmax()]
print(
    f"longest calibration: {longest['problem']}/{longest['observations']}/{longest['optimizer']}/start"
    f"{longest['start']}, {longest['wall_time_s']:.0f} s for {longest['evaluations']} evaluations"
    f" ({longest['model_time_s'] / longest['evaluations']:.2f} s each)"
)
