# Posteriors of a problem's parameters (config `posterior`): NUTS per observation set (the reference), and an
# amortised neural posterior (NPE) trained once per problem on prior simulations of its observation design and
# sampled for each set; a table per problem compares them with the Laplace posterior at the truth.


rule mcmc_chain:
    input:
        inputs=calibration_inputs,
        observations=observation_set_path,
        assets=SCOPE_ASSETS,
    output:
        # the Laplace search, warm-up and draw blocks (chain<k>/), which a killed job resumes from, are
        # deliberately not outputs: Snakemake deletes the outputs of a failed job.
        f"{POSTERIOR_SET_DIR}/mcmc/chain{{chain}}.npz",
    log:
        results("logs/posterior/{problem}/{observations}/mcmc_chain{chain}.log"),
    benchmark:
        results("benchmarks/posterior/{problem}/{observations}/mcmc_chain{chain}.tsv")
    # a long job: ahead of the short ones ready at the same time, so that fewer of them are left for the end
    priority: 1
    conda:
        "../../envs/inference.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
        mcmc=posterior_params("warmup", "draws", "block", "seed"),
        scope=scope_run(),
    script:
        "../scripts/mcmc_chain.py"


rule mcmc:
    input:
        mcmc_chains,
    output:
        posterior=f"{POSTERIOR_SET_DIR}/mcmc/posterior.nc",
        diagnostics=f"{POSTERIOR_SET_DIR}/mcmc/diagnostics.csv",
    log:
        results("logs/posterior/{problem}/{observations}/mcmc.log"),
    localrule: True
    conda:
        "../../envs/inference.yaml"
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
    script:
        "../scripts/mcmc.py"


rule simulate_prior:
    input:
        inputs=design_inputs,
        observations=design_observations,
        assets=SCOPE_ASSETS,
    output:
        f"{POSTERIOR_DIR}/npe/simulations/chunk{{chunk}}.nc",
    log:
        results("logs/posterior/{problem}/simulations/chunk{chunk}.log"),
    benchmark:
        results("benchmarks/posterior/{problem}/simulations/chunk{chunk}.tsv")
    # a long job: ahead of the short ones ready at the same time, so that fewer of them are left for the end
    priority: 1
    conda:
        "../../envs/inference.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        problem=lambda wildcards: problem_spec(wildcards, design_set(wildcards)),
        design=design_set,
        npe=posterior_params("simulations", "chunks", "seed"),
        scope=scope_run(),
    script:
        "../scripts/simulate_prior.py"


rule train_posterior:
    input:
        chunks=simulation_chunks,
    output:
        network=f"{POSTERIOR_DIR}/npe/network.pt",
        coverage=f"{POSTERIOR_DIR}/npe/coverage.csv",
        training=f"{POSTERIOR_DIR}/npe/training.json",
    log:
        results("logs/posterior/{problem}/train.log"),
    benchmark:
        results("benchmarks/posterior/{problem}/train.tsv")
    conda:
        "../../envs/inference.yaml"
    params:
        problem=lambda wildcards: problem_spec(wildcards, design_set(wildcards)),
        npe=posterior_params("holdout", "network", "seed"),
    script:
        "../scripts/train_posterior.py"


rule posterior:
    input:
        network=f"{POSTERIOR_DIR}/npe/network.pt",
        simulations=f"{POSTERIOR_DIR}/npe/simulations/chunk1.nc",
        design=design_observations,
        observations=observation_set_path,
        inputs=calibration_inputs,
    output:
        f"{POSTERIOR_SET_DIR}/npe/posterior.nc",
    log:
        results("logs/posterior/{problem}/{observations}/npe.log"),
    benchmark:
        results("benchmarks/posterior/{problem}/{observations}/npe.tsv")
    conda:
        "../../envs/inference.yaml"
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
        design=design_set,
        npe=posterior_params("samples", "seed"),
    script:
        "../scripts/posterior.py"


rule posterior_report:
    input:
        unpack(posterior_report_inputs),
    output:
        table=report(
            results("tables/posterior/{problem}.csv"),
            caption="../report/posterior_table.rst",
            category="Posteriors",
            subcategory="{problem}",
            labels={"problem": "{problem}", "output": "table"},
        ),
        markdown=results("tables/posterior/{problem}.md"),
    log:
        results("logs/posterior/{problem}/report.log"),
    localrule: True
    conda:
        "../../envs/inference.yaml"
    params:
        problem=lambda wildcards: problem_spec(wildcards),
        observations=lambda wildcards: POSTERIOR[wildcards.problem]["observations"],
        laplace_sets=lambda wildcards: LAPLACE_SETS[wildcards.problem],
    script:
        "../scripts/posterior_report.py"


rule posterior_figure:
    input:
        unpack(posterior_figure_inputs),
    output:
        figure=report(
            f"{POSTERIOR_FIGURES_DIR}/corner.png",
            caption="../report/posterior_corner.rst",
            category="Posteriors",
            subcategory="{problem}",
            labels={"problem": "{problem}", "observations": "{observations}", "output": "corner"},
        ),
        figure_svg=f"{POSTERIOR_FIGURES_DIR}/corner.svg",
    log:
        results("logs/posterior/{problem}/{observations}/figure.log"),
    localrule: True
    conda:
        "../../envs/inference.yaml"
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
    script:
        "../scripts/posterior_figure.py"


rule posterior_predictive:
    input:
        inputs=calibration_inputs,
        observations=observation_set_path,
        assets=SCOPE_ASSETS,
        samples=posterior_samples,
    output:
        predictive=f"{POSTERIOR_SET_DIR}/predictive.nc",
        figure=report(
            f"{POSTERIOR_FIGURES_DIR}/predictive.png",
            caption="../report/posterior_predictive.rst",
            category="Posteriors",
            subcategory="{problem}",
            labels={"problem": "{problem}", "observations": "{observations}", "output": "predictive"},
        ),
        figure_svg=f"{POSTERIOR_FIGURES_DIR}/predictive.svg",
    log:
        results("logs/posterior/{problem}/{observations}/predictive.log"),
    benchmark:
        results("benchmarks/posterior/{problem}/{observations}/predictive.tsv")
    conda:
        "../../envs/inference.yaml"
    resources:
        **SCOPE_HEAVY_RESOURCES,
    params:
        problem=lambda wildcards: problem_spec(wildcards, wildcards.observations),
        methods=posterior_methods,
        predictive=posterior_params("predictive", "seed"),
        scope=scope_run(),
    script:
        "../scripts/posterior_predictive.py"
