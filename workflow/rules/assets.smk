if not config["scope_assets"]:

    rule fetch_scope_assets:
        output:
            directory(SCOPE_ASSETS),
        log:
            results("logs/fetch_scope_assets.log"),
        benchmark:
            results("benchmarks/fetch_scope_assets.tsv")
        conda:
            "../../envs/scope.yaml"
        script:
            "../scripts/fetch_scope_assets.py"
