"""Windows (`grunet.windows`): the tutorial's sliding windows, the time split, the flat window set, and `prepare`
(every window inside its series and part, nothing of the held-out parts seen in training, the exact minimum length
in its message)."""

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grunet.data.config import DataConfig
from grunet.data.series import SeriesSet
from grunet.features import model_values
from grunet.windows import WindowSet, prepare, sliding_windows, split_series


def test_sliding_windows_equal_the_tutorials_loop_and_share_memory():
    data = np.sin(np.linspace(0, 100, 1000))
    inputs, targets = sliding_windows(data, 50)
    xs = np.array([data[i : i + 50] for i in range(len(data) - 50)])
    ys = np.array([data[i + 50] for i in range(len(data) - 50)])
    assert np.array_equal(inputs, xs) and np.array_equal(targets, ys)
    assert np.shares_memory(inputs, data)  # a view, not a copy per window
    with pytest.raises(ValueError, match="window"):
        sliding_windows(data[:10], 10)


def test_split_reproduces_the_tutorials_800_150_split():
    split = split_series(1000, window=50, horizon=1, test_size=150, val_size=0)
    assert split.train == (0, 799) and split.test == (800, 949)
    assert split.train_end == 850


@pytest.mark.parametrize("length,window,horizon,test,val", [(144, 24, 12, 12, 12), (60, 5, 3, 7, 4), (30, 1, 1, 1, 0)])
def test_split_keeps_targets_inside_their_part(length, window, horizon, test, val):
    split = split_series(length, window, horizon, test, val)
    train_end, val_end = length - test - val, length - test
    for start in range(split.train[0], split.train[1] + 1):
        assert start + window + horizon <= train_end
    for start in range(split.val[0], split.val[1] + 1):
        assert train_end <= start + window and start + window + horizon <= val_end
    for start in range(split.test[0], split.test[1] + 1):
        assert val_end <= start + window and start + window + horizon <= length
    assert split.test[1] - split.test[0] + 1 == test - horizon + 1
    assert split.train[1] + 1 == train_end - window - horizon + 1  # every train window is used


def test_window_set_gathers_batches_from_one_flat_array():
    values = torch.arange(20, dtype=torch.float32).reshape(10, 2)  # column 0 target
    windows = WindowSet(values, torch.tensor([0, 3, 5]), torch.tensor([0, 0, 0]), window=3, horizon=2)
    inputs, targets = windows.inputs(), windows.targets()
    assert inputs.shape == (3, 3, 2) and targets.shape == (3, 2)
    assert torch.equal(inputs[1], values[3:6]) and torch.equal(targets[1], values[6:8, 0])
    assert windows._input_view.data_ptr() == values.data_ptr()  # the view shares the storage
    assert torch.equal(windows.inputs(torch.tensor([2])), inputs[2:])
    pieces = list(windows.chunks(size=2))  # consecutive pieces, together every window once
    assert [len(piece_inputs) for piece_inputs, _ in pieces] == [2, 1]
    assert torch.equal(torch.cat([piece[0] for piece in pieces]), inputs)
    assert torch.equal(torch.cat([piece[1] for piece in pieces]), targets)


def _series(lengths, features=0, seed=0):
    rng = np.random.default_rng(seed)
    values = [np.cumsum(rng.normal(size=(n, 1 + features)), axis=0) + 10 * (i + 1) for i, n in enumerate(lengths)]
    return SeriesSet(
        names=[f"s{i}" for i in range(len(lengths))], values=values, columns=["y"] + [f"f{k}" for k in range(features)]
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    lengths=st.lists(st.integers(5, 60), min_size=1, max_size=4),
    window=st.integers(1, 10),
    horizon=st.integers(1, 4),
    test_extra=st.integers(0, 5),
    val=st.integers(0, 6),
    pad=st.booleans(),
)
def test_windows_stay_in_their_series_and_part(lengths, window, horizon, test_extra, val, pad):
    series = _series(lengths)
    val_size = 0 if val < horizon else val
    config = DataConfig(
        data="x",
        window=window,
        horizon=horizon,
        test_size=horizon + test_extra,
        val_size=val_size,
        scale="standard",
        pad=pad,
    )
    try:
        prepared = prepare(series, config)
    except ValueError as error:
        assert "too short" in str(error)
        return
    for position, index in enumerate(prepared.kept):
        block_start = prepared.offsets[position]
        start, end = prepared.bounds(position)
        assert start - block_start == (window - 1 if pad else 0)
        train_end = start + prepared.splits[position].train_end
        test_start = end - config.test_size
        for part in (prepared.train, prepared.val, prepared.test):
            mine = part.starts[part.series == position].numpy()
            assert (mine >= block_start).all() and (mine + window + horizon <= end).all()  # never crosses series
            assert (mine + window >= start + 1).all()  # at least one observed input step
            assert (part.inputs()[part.series == position][:, -1, -1] == 1).all() if pad else True
        train_starts = prepared.train.starts[prepared.train.series == position].numpy()
        assert (train_starts + window + horizon <= train_end).all()  # no validation or test target in training
        test_starts = prepared.test.starts[prepared.test.series == position].numpy()
        assert len(test_starts) == config.test_size - horizon + 1 and (test_starts + window >= test_start).all()
        # the scaler saw only the train part (a padded series with none: its first point)
        fitted = max(train_end - start, 1)
        part = series.values[index][:fitted]
        assert np.allclose(prepared.scaler.shift[position], part.mean(axis=0))
    # the targets of every window follow its inputs in the flat array
    inputs, targets = prepared.train.inputs(), prepared.train.targets()
    if len(prepared.train):
        starts = prepared.train.starts
        assert torch.equal(inputs[:, :, 0], prepared.train.values[starts[:, None] + torch.arange(window), 0])
        assert torch.equal(targets, prepared.train.values[starts[:, None] + window + torch.arange(horizon), 0])


def test_changing_the_test_part_changes_nothing_seen_in_training():
    series = _series([80, 70])
    config = DataConfig(data="x", window=8, horizon=3, test_size=10, val_size=6, scale="standard")
    before = prepare(series, config)
    series.values[0][-10:] += 1000.0
    after = prepare(series, config)
    assert np.array_equal(before.scaler.shift, after.scaler.shift)
    assert torch.equal(before.train.inputs(), after.train.inputs()) and torch.equal(
        before.val.targets(), after.val.targets()
    )


@pytest.mark.parametrize("pad", [False, True])
def test_too_short_names_the_length_one_training_window_needs(pad):
    """The message's minimum is exact: one point less fails with it, that length itself trains."""
    needed = (1 if pad else 10) + 2 + 4 + 0  # window 10 (or one observed step), horizon 2, test 4, no validation
    config = DataConfig(window=10, horizon=2, test_size=4, val_size=0, pad=pad, scale="none")
    with pytest.raises(ValueError, match=f"needs at least {needed} points"):
        prepare(_series([needed - 1]), config)
    assert len(prepare(_series([needed]), config).train) == 1


def _by_series(series, config, prepared):
    """The flat arrays and window starts built series by series, as `prepare` built them before it worked on all
    series at once: (raw, model values, offsets, {part: (starts, series)})."""
    pad = prepared.pad
    blocks, raw_blocks = [], []
    for position, index in enumerate(prepared.kept):
        values = series.values[index]
        block = model_values(config, prepared.scaler, position, values, series.times[index])
        blocks.append(np.concatenate([np.zeros((pad, block.shape[1])), block]))
        raw_blocks.append(np.concatenate([np.full((pad, values.shape[1]), np.nan), values]))
    offsets = np.concatenate([[0], np.cumsum([len(block) for block in blocks])])
    parts = {}
    for part in ("train", "val", "test"):
        starts, owners = [], []
        for index, split in enumerate(prepared.splits):
            first, last = getattr(split, part)
            if last >= first:
                starts.append(offsets[index] + pad + np.arange(first, last + 1))
                owners.append(np.full(last + 1 - first, index))
        parts[part] = (np.concatenate(starts), np.concatenate(owners)) if starts else (np.zeros(0), np.zeros(0))
    return np.concatenate(raw_blocks), np.concatenate(blocks), offsets, parts


@pytest.mark.parametrize("calendar", ["none", "dayofweek,dayofyear", "hour,month"])
@pytest.mark.parametrize("pad,log", [(False, False), (True, False), (True, True)])
def test_all_series_at_once_equal_series_by_series(calendar, pad, log):
    """`prepare` scales, adds calendar features and pads all series at once: the same arrays, bit for bit, as one
    series at a time (lengths differ, one series is skipped as too short, one starts on another day)."""
    series = _series([40, 3, 25, 60, 12], features=1, seed=2)
    series.values = [np.abs(values) + 1 for values in series.values]  # positive, for the log
    series.times = [
        pd.date_range(f"2020-0{1 + i}-0{1 + i} 0{i}:00", periods=len(v), freq="D") for i, v in enumerate(series.values)
    ]
    config = DataConfig(
        data="x", window=6, horizon=2, test_size=4, val_size=3, scale="standard", pad=pad, log=log, calendar=calendar
    )
    prepared = prepare(series, config)
    raw, blocks, offsets, parts = _by_series(series, config, prepared)
    assert np.array_equal(prepared.raw, raw, equal_nan=True) and prepared.raw.dtype == raw.dtype
    assert np.array_equal(prepared.offsets, offsets) and prepared.offsets.dtype == offsets.dtype
    assert torch.equal(prepared.train.values, torch.tensor(blocks, dtype=torch.float32))
    for part, (starts, owners) in parts.items():
        windows = getattr(prepared, part)
        assert np.array_equal(windows.starts.numpy(), starts) and np.array_equal(windows.series.numpy(), owners)
        assert windows.starts.dtype == windows.series.dtype == torch.int64


def test_the_log_of_a_target_not_positive_everywhere_is_refused_unless_that_series_is_left_out():
    """--log needs every kept series' target above zero (`SeriesSet.positive`); a series too short to keep does not
    count, a zero in a kept one does."""
    series = _series([40, 3, 25], features=0, seed=4)
    series.values = [np.abs(values) + 1 for values in series.values]
    series.values[1][0, 0] = 0.0  # the 3-point series: skipped as too short
    config = DataConfig(data="x", window=6, horizon=2, test_size=4, val_size=3, scale="standard", log=True)
    assert not series.positive() and series.positive([0, 2])
    prepare(series, config)
    series.values[2][5, 0] = -1.0
    with pytest.raises(ValueError, match="--log needs a positive target"):
        prepare(series, config)
