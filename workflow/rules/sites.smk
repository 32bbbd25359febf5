# The cross-site summary (config `sites`): every site's calibrated parameters, uncertainty, misfit, evaluations and
# time in one table and figure.


if config.get("sites"):

    rule sites_summary:
        input:
            summaries=[results("calibration/summary.csv", site) for site in CALIBRATED_SITES],
            sensitivity=[results(f"sensitivity/{problem}/sensitivity.csv", site) for site, problem in SITE_SENSITIVITY],
            maps=[f"{PIXELS_DIR}/parameters.nc".format(**job) for job in PIXEL_JOBS],
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
            summaries=CALIBRATED_SITES,
            sensitivity=[[site, problem] for site, problem in SITE_SENSITIVITY],
            maps=[[job["site"], job["problem"], job["observations"]] for job in PIXEL_JOBS],
            pixel_problems={job["problem"]: site_problem_spec(job["problem"], job["site"]) for job in PIXEL_JOBS},
        script:
            "../scripts/sites_summary.py"
