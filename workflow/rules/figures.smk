# Figures and tables of the calibration jobs (from their traces and summary.csv; no SCOPE runs), and the
# sensitivity and identifiability of each problem at its truth (a few SCOPE runs per problem).


rule job_figures:
    input:
        trace=f"{CALIBRATION_DIR}/trace.csv",
        result=f"{CALIBRATION_DIR}/result.json",
    output:
        misfit=report(
            f"{FIGURES_DIR}/{{optimizer}}/{{start}}/misfit.png",
            caption="../report/job_misfit.rst",
            category="Calibration jobs",
            subcategory="{problem} / {observations}",
            labels={"optimizer": "{optimizer}", "start": "{start}", "figure": "misfit"},
        ),
        misfit_svg=f"{FIGURES_DIR}/{{optimizer}}/{{start}}/misfit.svg",
        parameters=report(
            f"{FIGURES_DIR}/{{optimizer}}/{{start}}/parameters.png",
            caption="../report/job_parameters.rst",
            category="Calibration jobs",
            subcategory="{problem} / {observations}",
            labels={"optimizer": "{optimizer}", "start": "{start}", "figure": "parameters"},
        ),
        parameters_svg=f"{FIGURES_DIR}/{{optimizer}}/{{start}}/parameters.svg",
    log:
        results("logs/figures/{problem}/{observations}/{optimizer}/{start}.log"),
    localrule: True
    conda:
        "../../envs/scope.yaml"
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
    script:
        "../scripts/job_figures.py"


rule experiment:
    input:
        summary=results("calibration/summary.csv"),
        traces=experiment_traces,
    output:
        comparison=report(
            f"{FIGURES_DIR}/misfit_comparison.png",
            caption="../report/misfit_comparison.rst",
            category="Calibration comparison",
            subcategory="{problem}",
            labels={"observations": "{observations}", "figure": "misfit comparison"},
        ),
        comparison_svg=f"{FIGURES_DIR}/misfit_comparison.svg",
        table=report(
            f"{TABLES_DIR}/{{observations}}.csv",
            caption="../report/experiment_table.rst",
            category="Calibration comparison",
            subcategory="{problem}",
            labels={"observations": "{observations}", "figure": "table"},
        ),
        markdown=f"{TABLES_DIR}/{{observations}}.md",
    log:
        results("logs/figures/{problem}/{observations}/experiment.log"),
    localrule: True
    conda:
        "../../envs/scope.yaml"
    script:
        "../scripts/experiment.py"


rule profiles:
    input:
        summary=results("calibration/summary.csv"),
        traces=calibration_traces,
    output:
        figure=report(
            results("figures/profiles.png"),
            caption="../report/profiles.rst",
            category="Calibration comparison",
            subcategory="all problems",
            labels={"figure": "data and performance profiles"},
        ),
        figure_svg=results("figures/profiles.svg"),
        table=results("tables/profiles.csv"),
    log:
        results("logs/figures/profiles.log"),
    localrule: True
    conda:
        "../../envs/scope.yaml"
    script:
        "../scripts/profiles.py"


rule sensitivity:
    input:
        inputs=problem_inputs,
        observations=noise_free_observations,
        assets=SCOPE_ASSETS,
    output:
        table=report(
            results("sensitivity/{problem}/sensitivity.csv"),
            caption="../report/sensitivity_table.rst",
            category="Sensitivity",
            subcategory="{problem}",
            labels={"problem": "{problem}", "output": "table"},
        ),
        markdown=results("sensitivity/{problem}/sensitivity.md"),
        figure=report(
            results("sensitivity/{problem}/sensitivity.png"),
            caption="../report/sensitivity.rst",
            category="Sensitivity",
            subcategory="{problem}",
            labels={"problem": "{problem}", "output": "figure"},
        ),
        figure_svg=results("sensitivity/{problem}/sensitivity.svg"),
    log:
        results("logs/sensitivity/{problem}.log"),
    benchmark:
        results("benchmarks/sensitivity/{problem}.tsv")
    conda:
        "../../envs/scope.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        problem=lambda wildcards: problem_spec(wildcards, noise_free_set(wildcards.problem)),
        observations=lambda wildcards: noise_free_set(wildcards.problem),
        scope=scope_run(),
    script:
        "../scripts/sensitivity.py"


rule paper_comparison:
    input:
        summary=results("calibration/summary.csv"),
    output:
        table=report(
            results("tables/paper_comparison.csv"),
            caption="../report/paper_comparison.rst",
            category="Calibration comparison",
            subcategory="published experiment",
            labels={"table": "paper comparison"},
        ),
        markdown=results("tables/paper_comparison.md"),
    log:
        results("logs/figures/paper_comparison.log"),
    localrule: True
    conda:
        "../../envs/scope.yaml"
    params:
        reference=config.get("paper_comparison"),
    script:
        "../scripts/paper_comparison.py"
