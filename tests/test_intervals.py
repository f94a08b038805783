"""Split-conformal intervals (`grunet.evaluation.intervals`): the quantile rank, the window's scale, coverage near
the level on exchangeable errors, and bounds mapped back through the scaler."""

import numpy as np
import pytest

from grunet.evaluation.intervals import bounds, conformal_quantiles, coverage, window_factor
from grunet.scaling import Scaler


def test_the_quantile_is_the_split_conformal_rank():
    errors = np.arange(1.0, 10.0)[:, None] * np.array([[1.0, 2.0]])  # 9 errors per step
    quantiles = conformal_quantiles(errors, [80, 50, 99])
    # ceil((9 + 1) * 0.8) = 8th smallest; ceil(10 * 0.5) = 5th; ceil(10 * 0.99) = 10 > 9: the largest
    np.testing.assert_array_equal(quantiles, [[8, 16], [5, 10], [9, 18]])


def test_nan_rows_are_ignored_and_an_empty_step_has_no_width():
    errors = np.array([[1.0, np.nan], [2.0, np.nan], [np.nan, np.nan], [3.0, np.nan]])
    quantiles = conformal_quantiles(errors, [50])
    assert quantiles[0, 0] == 2.0 and np.isnan(quantiles[0, 1])


def test_a_step_is_never_narrower_than_an_earlier_one():
    """Few origins make later steps' quantiles come out narrower by chance: each step is raised to the widest
    before it, never taken below its own conformal quantile; a step without errors still has no width."""
    errors = np.array([[1.0, 4.0, 2.0, np.nan, 3.0], [2.0, 5.0, 1.0, np.nan, 6.0], [3.0, 6.0, 3.0, np.nan, 9.0]])
    quantiles = conformal_quantiles(errors, [50, 99])
    # own 50 % quantiles (2nd smallest): 2, 5, 2, -, 6; the 99 % ones (the largest): 3, 6, 3, -, 9
    np.testing.assert_array_equal(quantiles[:, [0, 1, 2, 4]], [[2, 5, 5, 6], [3, 6, 6, 9]])
    assert np.isnan(quantiles[:, 3]).all()


@pytest.mark.parametrize("level", [80, 95])
def test_coverage_of_new_errors_is_near_the_level(level):
    rng = np.random.default_rng(level)
    calibration = np.abs(rng.standard_t(4, size=(400, 3)))
    half = conformal_quantiles(calibration, [level])  # (1, 3)
    new = rng.standard_t(4, size=(20000, 3))
    forecast = np.zeros((20000, 3))
    lower, upper = bounds(forecast, np.ones(20000), half)
    assert abs(coverage(new, lower[0], upper[0]) - level) < 3


def test_meanabs_errors_are_measured_in_the_windows_own_scale():
    inputs = np.zeros((2, 4, 2))
    inputs[0, :, 0] = [2, -2, 2, -2]
    inputs[0, :, 1] = 1  # observed
    inputs[1, :, 0] = [0, 0, 10, 30]
    inputs[1, :, 1] = [0, 0, 1, 1]  # the mask: the first two steps are padding
    assert window_factor(inputs, "last", mask=True).tolist() == [1.0, 1.0]
    np.testing.assert_allclose(window_factor(inputs, "meanabs", mask=True), [2.0, 20.0])
    np.testing.assert_allclose(window_factor(inputs[:, :, :1], "meanabs", mask=False), [2.0, 10.0])
    lower, upper = bounds(np.array([[1.0], [5.0]]), np.array([2.0, 20.0]), np.array([[0.5]]))
    np.testing.assert_allclose(lower[0, :, 0], [0.0, -5.0])
    np.testing.assert_allclose(upper[0, :, 0], [2.0, 15.0])


def test_log_scaled_bounds_come_back_asymmetric():
    scaler = Scaler("none", True, np.zeros((1, 1)), np.ones((1, 1)))
    lower, upper = bounds(np.log([[100.0]]), np.ones(1), np.array([[0.1]]))
    low, high = scaler.inverse_target(lower[0], [0])[0, 0], scaler.inverse_target(upper[0], [0])[0, 0]
    assert low == pytest.approx(100 * np.exp(-0.1)) and high == pytest.approx(100 * np.exp(0.1))
    assert 100 - low < high - 100
    np.testing.assert_allclose(scaler.transform_target(np.array([[100.0]]), [0]), np.log([[100.0]]))


def test_errors_are_calibrated_in_the_units_of_the_model_predict_uses():
    """The refit on every point has its own scaler (a series that grew in the test part has a larger scale): the
    errors measured by the scored model are put in its units, so an interval is as wide in original units after the
    refit as without it. (They were read in the refit's units: 21 times too wide on this ramp.)"""
    import pandas as pd

    import grunet

    rng = np.random.default_rng(0)
    values = np.r_[rng.normal(10, 1, 40), 10 + 3 * np.arange(20) + rng.normal(0, 1, 20)]  # noise of sd 1, a ramp
    frame = pd.DataFrame({"date": pd.date_range("2020-01-01", periods=60, freq="D"), "y": values})
    settings = dict(horizon=3, search="none", epochs=3, smoothing=0.0, verbose=False)
    widths = {}
    for refit in (True, False):
        forecast = grunet.Forecaster(**settings, refit=refit).fit(frame, target="y", time_col="date").predict()
        widths[refit] = (forecast["hi-80"] - forecast["value"]).to_numpy()
    assert np.allclose(widths[True], widths[False], rtol=1e-6) and (widths[True] < 30).all()


def test_rescaled_converts_each_windows_errors_by_its_series_scales():
    from grunet.evaluation.intervals import rescaled

    errors = np.ones((3, 2))
    measured, wanted = np.array([2.0, 1.0, np.nan]), np.array([4.0, 1.0, 5.0])
    assert rescaled(errors, np.array([0, 1, 2]), measured, wanted).tolist() == [[0.5, 0.5], [1, 1], [1, 1]]
