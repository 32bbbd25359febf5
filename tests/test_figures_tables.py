"""Calibration figures, tables (Oliver et al. 2022, Tables C1 and C2), data and performance profiles, and the
sensitivity and identifiability analysis."""

import math
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
from test_bridge_inputs import chain  # noqa: F401 - shared fixture
from test_calibration import thermal_twin  # noqa: F401 - shared fixture

from scopecal import calibrate, figures, metrics, problems, sensitivity, tables

ONE = dict(
    workflow="thermal",
    parameters={"x": dict(truth=5.0, lower=0.0, upper=10.0, starts=[0.0])},
    targets={"Loutt": {"absolute": 1.0}},
    observations={"clean": {}},
)


def record(evaluation, x, misfit, generation=None):
    return dict(
        evaluation=evaluation,
        kind="value",
        generation=generation,
        misfit=misfit,
        improved=False,
        failed=False,
        parameters={"x": x},
    )


def job(optimizer, xs, misfits, baseline=0.0):
    problem = problems.problem_from_config("one", ONE)
    records = [record(i + 1, x, m) for i, (x, m) in enumerate(zip(xs, misfits, strict=True))]
    result = metrics.summarise(records, problem, baseline)
    result.update(
        problem="one",
        workflow="thermal",
        optimizer=optimizer,
        start=1,
        observations="clean",
        stop_reason="done",
        evaluations=len(records),
        gradient_evaluations=0,
        budget=10,
        wall_time_s=2.0,
        model_time_s=1.5,
        parameters_true={"x": 5.0},
        parameters_initial={"x": 0.0},
    )
    return result, pd.DataFrame([{**r, **r["parameters"]} for r in records])


def test_experiment_tables_hold_start_final_truth_and_recovery():
    # recovery zone: 5 +- 0.5. "a" enters it at evaluation 3 (4.6) and stays; "b" enters at 2 but leaves
    # (a worse point is not an incumbent, so it stays: the incumbent only changes when the misfit improves).
    a, _ = job("a", [0.0, 2.0, 4.6, 5.2, 4.9], [100.0, 50.0, 4.0, 9.0, 1.0])
    b, _ = job("b", [0.0, 5.3, 7.0], [100.0, 5.0, 2.0])
    c, _ = job("c", [0.0, 1.0], [100.0, 90.0])
    summary = metrics.summary_table([a, b, c])
    result = tables.experiment_tables(summary, "one", "clean")
    values, recovery, performance = result["values"], result["recovery"], result["performance"]
    assert values.loc["x", "true"] == 5.0 and values.loc["x", "start"] == 0.0
    assert values.loc["x", "a"] == 4.9 and values.loc["x", "b"] == 7.0 and values.loc["x", "c"] == 1.0
    assert recovery.loc["a", "x"] == 3  # 4.6 at evaluation 3, then 4.9 (5.2 did not improve the misfit)
    assert pd.isna(recovery.loc["b", "x"]) and pd.isna(recovery.loc["c", "x"])  # b left the zone at 7.0
    assert list(recovery["all recovered"]) == [True, False, False]
    assert performance.loc["a", "final_misfit"] == 1.0 and performance.loc["a", "model_time_s"] == 1.5
    wide = tables.experiment_csv(result)
    assert list(wide["optimizer"]) == ["a", "b", "c"] and list(wide["recovered_at_x"].fillna(-1)) == [3, -1, -1]
    text = tables.experiment_markdown(result, "one", "clean")
    assert "| x | 5 | 0 | 4.9 | 7 | 1 |" in text and "| a | 3 | yes |" in text
    with pytest.raises(ValueError, match="no rows"):
        tables.experiment_tables(summary, "one", "noisy1")


def test_without_a_truth_recovery_stays_empty_not_faked():
    problem = problems.problem_from_config("one", {**ONE, "parameters": {"x": dict(lower=0.0, upper=10.0, starts=[0])}})
    records = [record(i + 1, x, m) for i, (x, m) in enumerate([(0.0, 100.0), (5.0, 1.0)])]
    summarised = metrics.summarise(records, problem, 0.5)
    assert summarised["recovered"] is None and summarised["evaluations_to_1pct"] is None
    assert summarised["recovered_at"] == {"x": None} and summarised["relative_error_final"] == {"x": None}
    result, _ = job("a", [0.0, 5.0], [100.0, 1.0])
    result.update(summarised, parameters_true={"x": None})
    tables_ = tables.experiment_tables(metrics.summary_table([result]), "one", "clean")
    assert tables_["values"].loc["x", "a"] == 5.0 and pd.isna(tables_["values"].loc["x", "true"])
    assert tables_["recovery"]["all recovered"].isna().all()
    text = tables.experiment_markdown(tables_, "one", "clean")
    assert "No truth: these observations come from a file" in text and "Table C2" not in text


def test_experiment_tables_name_each_start_where_there_are_several():
    first, _ = job("a", [0.0, 4.9], [100.0, 1.0])
    second, _ = job("a", [9.0, 5.1], [80.0, 1.0])
    second.update(start=2, parameters_initial={"x": 9.0})
    result = tables.experiment_tables(metrics.summary_table([first, second]), "one", "clean")
    assert list(result["performance"].index) == ["a (start 1)", "a (start 2)"]
    assert list(result["values"].loc["x"]) == [5.0, 0.0, 9.0, 4.9, 5.1]  # true, start 1, start 2, finals
    assert list(tables.experiment_csv(result)["start_x"]) == [0.0, 9.0]


def test_data_and_performance_profiles_on_a_synthetic_summary():
    # f0 = 100; f_L = 0 on both instances; tau = 0.1 -> solved at f <= 10
    instances = [
        dict(name="p1", n=1, initial=100.0, histories={"fast": [100, 5, 0], "slow": [100, 50, 20, 8, 0]}),
        dict(name="p2", n=3, initial=100.0, histories={"fast": [100, 80, 60, 40, 20, 15], "slow": [100, 0]}),
    ]
    table = tables.profile_table(instances, tau=0.1).set_index(["instance", "solver"])
    assert table.loc[("p1", "fast"), "evaluations"] == 2 and table.loc[("p1", "slow"), "evaluations"] == 4
    assert math.isinf(table.loc[("p2", "fast"), "evaluations"]) and table.loc[("p2", "slow"), "evaluations"] == 2
    assert table.loc[("p1", "slow"), "ratio"] == 2.0 and table.loc[("p2", "slow"), "simplex_gradients"] == 0.5
    data = tables.data_profile(table.reset_index(), budgets=[0.5, 1, 2, 10])
    # simplex gradients: p1 fast 2/2 = 1, p1 slow 4/2 = 2, p2 slow 2/4 = 0.5, p2 fast never
    assert list(data["fast"]) == [0, 0.5, 0.5, 0.5]
    assert list(data["slow"]) == [0.5, 0.5, 1.0, 1.0]
    performance = tables.performance_profile(table.reset_index(), ratios=[1, 2, 4])
    assert list(performance["fast"]) == [0.5, 0.5, 0.5] and list(performance["slow"]) == [0.5, 1.0, 1.0]


def test_profile_instances_are_problem_set_and_start_with_the_median_start_misfit():
    summary = pd.DataFrame(
        dict(problem="p", observations="clean", optimizer=["a", "b", "c", "a"], start=[1, 1, 1, 2], n_parameters=2)
    )
    misfits = {("a", 1): [9, 1], ("b", 1): [10, 2], ("c", 1): [50], ("a", 2): [7, 3]}
    traces = {("p", "clean", o, k): pd.DataFrame(dict(misfit=m)) for (o, k), m in misfits.items()}
    first, second = tables.profile_instances(summary, traces)
    assert first["name"] == "p/clean/start1" and first["n"] == 2 and first["initial"] == 10
    assert list(first["histories"]["b"]) == [10, 2]
    assert second["name"] == "p/clean/start2" and list(second["histories"]) == ["a"] and second["initial"] == 7


def is_png(path, size=20_000):
    data = path.read_bytes()
    return data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > size


def test_calibration_figures_are_written(tmp_path):
    problem = problems.problem_from_config("one", ONE)
    _, trace = job("a", [0.0, 2.0, 4.6, 5.2, 4.9], [100.0, 50.0, 4.0, 9.0, 0.0])
    trace["generation"] = [1, 1, 2, 2, 3]
    figures.save_figure(
        figures.misfit_history_figure(trace, title="t", baseline_misfit=3.0), [tmp_path / "m.png", tmp_path / "m.svg"]
    )
    figures.save_figure(figures.parameter_history_figure(trace, problem.parameters, title="t"), tmp_path / "p.png")
    figures.save_figure(
        figures.misfit_comparison_figure({("a", 1): trace, ("b", 1): trace.assign(misfit=trace["misfit"] * 2)}),
        tmp_path / "c.png",
    )
    for name in ("m.png", "p.png", "c.png"):
        assert is_png(tmp_path / name), name
    assert (tmp_path / "m.svg").read_text().lstrip().startswith("<?xml")
    np.testing.assert_allclose(figures.incumbent_misfit([3, 0, 5]), [3, figures.MISFIT_FLOOR, figures.MISFIT_FLOOR])
    # the figure jobs stay quick to start: drawing, tables and problems do not import torch
    imports = "import sys, scopecal.figures, scopecal.tables, scopecal.problems; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", imports], capture_output=True, text=True).stdout.strip() == "False"
    assert figures.recovery_zone(problem.parameters[0]) == (4.5, 5.5) and figures.RECOVERY_ZONE == metrics.RECOVERY_ZONE


@pytest.mark.parametrize("transform, lower, upper", [("identity", 10, 50), ("log", 1, 5000), ("logit", 0, 1)])
def test_scaled_derivative_matches_finite_differences(transform, lower, upper):
    parameter = problems.Parameter(
        "p", truth=0.3 * (upper - lower) + lower, lower=lower, upper=upper, transform=transform
    )
    step = 1e-6 * (upper - lower)
    finite = (parameter.to_scaled(parameter.truth + step) - parameter.to_scaled(parameter.truth - step)) / (2 * step)
    assert sensitivity.scaled_derivative(parameter, parameter.truth) == pytest.approx(finite, rel=1e-6)


def test_identifiability_of_a_known_jacobian():
    problem = problems.problem_from_config(
        "two", dict(ONE, parameters={n: dict(truth=30.0, lower=10.0, upper=50.0, starts=[20.0]) for n in "ab"})
    )
    result = sensitivity.identifiability(np.array([[2.0, 0.0], [0.0, 4.0], [0.0, 0.0]]), problem)
    assert result["condition_number"] == pytest.approx(2.0) and result["rank"] == 2
    np.testing.assert_allclose(result["posterior_sd"], [40 / 2, 40 / 4])  # d p / d u = span 40
    np.testing.assert_allclose(result["correlation"], np.eye(2), atol=1e-12)
    degenerate = sensitivity.identifiability(np.array([[1.0, 1.0], [2.0, 2.0]]), problem)
    assert degenerate["rank"] == 1 and math.isinf(degenerate["condition_number"])
    assert np.isinf(degenerate["posterior_sd"]).all()


def test_sensitivity_of_the_thermal_twin(thermal_twin, scope_assets, tmp_path):  # noqa: F811
    prepared, problem, _, sets, _ = thermal_twin
    objective = calibrate.build_objective(prepared, sets["clean"], problem, scope_root=scope_assets, device="cpu")
    table, result = sensitivity.analyse(objective, problem)
    assert result["misfit_truth"] < 1e-18
    assert np.isfinite(result["condition_number"]) and result["condition_number"] >= 1 and result["rank"] == 4
    correlation = result["correlation"]
    np.testing.assert_allclose(correlation, correlation.T)
    np.testing.assert_allclose(np.diag(correlation), 1.0)
    assert (np.abs(correlation) <= 1 + 1e-9).all()
    assert (table["misfit_minus"] > 1).all() and (table["misfit_plus"] > 1).all()  # 4 K off: far above noise
    np.testing.assert_allclose(table["value_plus"] - table["truth"], 4.0)  # 10% of the 40 K range
    sd = table["posterior_sd"].to_numpy()
    assert (sd > 0).all() and (sd < table["recovery_zone_half_width"]).all()  # identifiable well inside the zone
    text = sensitivity.markdown(table, result, problem)
    assert "condition number" in text and "| Tcu |" in text
    figures.save_figure(figures.sensitivity_figure(table, result, problem.names), tmp_path / "s.png")
    assert is_png(tmp_path / "s.png")


def test_paper_comparison_puts_the_published_numbers_beside_the_mirroring_job():
    # recovery zone 5 +- 0.5; baseline 2.0
    smooth, _ = job("dfols", [0.0, 3.0, 4.8, 5.0], [100.0, 10.0, 1.5, 0.5], baseline=2.0)
    slow, _ = job("cmaes", [0.0, 1.0, 2.0], [100.0, 80.0, 60.0], baseline=2.0)
    summary = metrics.summary_table([slow, smooth])
    reference = {"D_SMOOTH": {"job": "one/clean/dfols/start1", "baseline": 20, "recovered": 6, "recovery": 42}}
    table = tables.paper_comparison(summary, reference)
    mirrored, other = table.iloc[0], table.iloc[1]  # the mirrored experiment first
    assert (mirrored["paper_experiment"], mirrored["optimizer"]) == ("D_SMOOTH", "dfols")
    assert mirrored["evaluations_to_baseline"] == 3 and mirrored["evaluations_to_recovery"] == 3
    assert (mirrored["paper_evaluations_to_baseline"], mirrored["paper_evaluations_to_recovery"]) == (20, 42)
    assert (
        other["recovered"] == 0 and math.isnan(other["evaluations_to_recovery"]) and pd.isna(other["paper_experiment"])
    )
    text = tables.paper_markdown(table)
    assert "| D_SMOOTH | clean / dfols (start 1) | 3 | 20 | 1/1 | 6 | 3 | 42 |" in text
    assert "| cmaes (start 1) | – / – (0/1) |" in text


def test_docs_summary_holds_what_reproduces_and_no_times():
    a, _ = job("lbfgsb", [0.0, 4.9, 5.0], [100.0, 1.0, 0.0])
    a["observed_cells"] = 7
    examples = tables.docs_summary(metrics.summary_table([a]), {"one": ONE})
    run = examples["one"]["runs"]["lbfgsb"]
    assert examples["one"]["truth"] == {"x": 5.0} and examples["one"]["targets"] == list(ONE["targets"])
    assert run["final"] == {"x": 5.0} and run["evaluations"] == 3 and run["evaluations_to_1pct"] == 3
    assert not any("time" in key for key in run)
    assert "| x | 5 | 0 | 5 |" in tables.docs_markdown(examples)
