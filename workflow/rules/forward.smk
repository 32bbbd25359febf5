rule forward:
    input:
        inputs="results/inputs/{workflow}.nc",
        assets=SCOPE_ASSETS,
    output:
        outputs="results/forward/{workflow}.nc",
        quicklook=report(
            "results/forward/{workflow}.png",
            caption="../report/forward_quicklook.rst",
            category="Forward SCOPE",
            labels={"workflow": "{workflow}"},
        ),
    params:
        scope=config["scope"],
        config=config,
    threads: 2
    resources:
        # Every SCOPE-heavy rule (forward; twin and calibrate later) carries these three lines: the GPU partition
        # and one GPU, from config `cluster` (gpu: false on CPU-only clusters). Slurm: -p <partition> --gpus=1.
        slurm_partition=config["cluster"]["gpu_partition"],
        gpu=1 if config["cluster"]["gpu"] else 0,
        gpu_model=config["cluster"]["gpu_model"] if config["cluster"]["gpu"] else None,
    log:
        "results/logs/forward/{workflow}.log",
    benchmark:
        "results/benchmarks/forward/{workflow}.tsv"
    conda:
        "../../envs/scope.yaml"
    script:
        "../scripts/forward.py"
