"""Windows and the time split."""
import numpy as np
import pytest
import torch

from grunet.windows import WindowSet, sliding_windows, split_series


def test_sliding_windows_equal_the_tutorials_loop_and_share_memory():
    data = np.sin(np.linspace(0, 100, 1000))
    inputs, targets = sliding_windows(data, 50)
    xs = np.array([data[i:i + 50] for i in range(len(data) - 50)])
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

