rule forward:
    input:
        inputs=results("inputs/{workflow}.nc"),
        assets=SCOPE_ASSETS,
    output:
        outputs=results("forward/{workflow}.nc"),
        quicklook=report(
            results("forward/{workflow}.png"),
            caption="../report/forward_quicklook.rst",
            category="Forward SCOPE",
            labels={"workflow": "{workflow}"},
        ),
    log:
        results("logs/forward/{workflow}.log"),
    benchmark:
        results("benchmarks/forward/{workflow}.tsv")
    conda:
        "../../envs/scope.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        scope=scope_run(),
    script:
        "../scripts/forward.py"
