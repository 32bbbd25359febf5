# The documentation's generated summary and figures (config/docs.yaml): one example per calibration problem,
# written into the committed docs folder.

if "docs" in config:

    rule docs:
        input:
            summary=results("calibration/summary.csv"),
            misfit=[
                f"{FIGURES_DIR}/misfit_comparison.png".format(problem=p, observations=noise_free_set(p))
                for p in CALIBRATION_PROBLEMS
            ],
            parameters=[
                f"{FIGURES_DIR}/{{optimizer}}/start1/parameters.png".format(
                    problem=p, observations=noise_free_set(p), optimizer=config["docs"]["figures_of"]
                )
                for p in CALIBRATION_PROBLEMS
            ],
        output:
            summary=f"{DOCS_DIR}/summary.json",
            markdown=f"{DOCS_DIR}/summary.md",
            figures=[
                f"{DOCS_DIR}/figures/{p}_{kind}.png" for p in CALIBRATION_PROBLEMS for kind in ("misfit", "parameters")
            ],
        log:
            results("logs/docs.log"),
        localrule: True
        conda:
            "../../envs/scope.yaml"
        params:
            problems=CALIBRATION_PROBLEMS,
        script:
            "../scripts/docs.py"
