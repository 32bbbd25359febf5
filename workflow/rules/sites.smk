# The cross-site summary (config `sites`): every site's calibrated parameters, uncertainty, misfit, evaluations and
# time in one table and figure.


if config.get("sites"):

    rule sites_summary:
        input:
            unpack(sites_summary_inputs),
        output:
            table=report(
                f"{SITES_SUMMARY_DIR}/sites.csv",
                caption="../report/sites_summary.rst",
                category="Sites",
                labels={"output": "table"},
            ),
            markdown=f"{SITES_SUMMARY_DIR}/sites.md",
            figure=report(
                f"{SITES_SUMMARY_DIR}/sites.png",
                caption="../report/sites_summary.rst",
                category="Sites",
                labels={"output": "figure"},
            ),
            figure_svg=f"{SITES_SUMMARY_DIR}/sites.svg",
        log:
            f"{SITES_SUMMARY_DIR}/sites.log",
        localrule: True
        conda:
            "../../envs/scope.yaml"
        params:
            summaries=[job["site"] for job in SITE_SUMMARIES],
            sensitivity=[[site, problem] for site, problem in SITE_SENSITIVITY],
            maps=[[job["site"], job["problem"], job["observations"]] for job in PIXEL_JOBS],
            pixel_problems={job["problem"]: site_problem_spec(job["problem"], job["site"]) for job in PIXEL_JOBS},
        script:
            "../scripts/sites_summary.py"
