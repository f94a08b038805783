"""Checking an export before it is written (`grunet.export.verify`): the random inputs (masks whose last step is
observed, known-future values), the comparison with the PyTorch model, and a write that leaves nothing behind when
the check fails."""

import numpy as np
import pytest
import torch
from torch import nn

from grunet.export.verify import (
    TOLERANCE,
    Verification,
    compare,
    float32_eval,
    model_members,
    random_inputs,
    write_verified,
)
from grunet.model import Ensemble, GRUNet, ModelConfig


def _model(**changes):
    torch.manual_seed(0)
    settings = dict(input_size=3, hidden_size=4, output_size=2, num_layers=1, future_size=0, mask=False)
    return GRUNet(**{**settings, **changes})


def test_random_inputs_cover_every_batch_size_and_length_with_masks_observed_at_the_end():
    config = ModelConfig(input_size=3, output_size=4, mask=True, future_size=2)
    cases = list(random_inputs(config, (1, 3, 16), (1, 7, 50), seed=0))
    assert [tuple(x.shape) for x, _ in cases] == [(b, t, 3) for b in (1, 3, 16) for t in (1, 7, 50)]
    for x, future in cases:
        mask = x[:, :, -1]
        assert set(mask.unique().tolist()) <= {0.0, 1.0} and (mask[:, -1] == 1).all()
        assert future.shape == (x.shape[0], 4, 2)
    masks = torch.cat([x[:, :-1, -1].flatten() for x, _ in cases])
    assert 0.3 < masks.mean() < 0.7  # both padded and observed steps are tried
    assert cases[-1][0][:, :, 0].std() > 1  # the values: randn * 2 + 0.5


def test_random_inputs_without_mask_or_future_and_by_seed():
    config = ModelConfig(input_size=2, output_size=1)
    first = list(random_inputs(config, (4,), (9,), seed=1))
    assert first[0][1] is None and not set(first[0][0][:, :, -1].unique().tolist()) <= {0.0, 1.0}
    again = list(random_inputs(config, (4,), (9,), seed=1))
    other = list(random_inputs(config, (4,), (9,), seed=2))
    assert torch.equal(first[0][0], again[0][0]) and not torch.equal(first[0][0], other[0][0])


def test_compare_reports_the_largest_difference_over_every_case():
    model = _model().eval()
    config = model.config
    exact = compare(model, lambda x, future: model(x, future).numpy(), config, (1, 3), (2, 5), 0, "same")
    assert exact.max_abs_diff == 0.0 and exact.batch_sizes == [1, 3] and exact.lengths == [2, 5]
    assert exact.runtime == "same" and exact.tolerance == TOLERANCE
    calls = []

    def off(x, future):  # off by 1e-3 on the batch of 3 only
        calls.append(x.shape)
        return model(x, future).numpy() + (1e-3 if x.shape[0] == 3 else 0.0)

    result = compare(model, off, config, (1, 3), (2, 5), 0, "off")
    assert result.max_abs_diff == pytest.approx(1e-3, rel=1e-3) and len(calls) == 4
    assert Verification(1e-3, [1], [2]).to_dict() == {
        "max_abs_diff": 1e-3,
        "tolerance": TOLERANCE,
        "batch_sizes": [1],
        "lengths": [2],
        "runtime": "",
    }


def test_compare_stops_at_a_nan_and_refuses_a_wrong_shape():
    model = _model().eval()
    calls = []

    def nan(x, future):
        calls.append(1)
        return np.full((x.shape[0], 2), np.nan)

    result = compare(model, nan, model.config, (1, 3), (2, 5), 0, "nan")
    assert np.isnan(result.max_abs_diff) and len(calls) == 1  # no later case can make it pass
    with pytest.raises(
        ValueError,
        match=r"the onnxruntime export returns shape \(1, 1\) for input \(1, 2, 3\), "
        r"the PyTorch model \(1, 2\)",
    ):
        compare(model, lambda x, future: np.zeros((x.shape[0], 1)), model.config, (1,), (2,), 0, "onnxruntime")


def _verdict(diff):
    return lambda temporary: Verification(diff, [1], [1], TOLERANCE, "test")


def test_write_verified_renames_the_checked_file_into_place(tmp_path):
    path = tmp_path / "deeper" / "model.onnx"
    seen = []

    def write(temporary):
        seen.append(temporary)
        with open(temporary, "wb") as handle:
            handle.write(b"model bytes")

    result = write_verified(path, write, _verdict(TOLERANCE))  # at the tolerance: accepted
    assert result.max_abs_diff == TOLERANCE and path.read_bytes() == b"model bytes"
    assert seen[0].endswith(".onnx") and "/.model." in seen[0]  # a hidden temporary with the model's suffix
    assert [entry.name for entry in path.parent.iterdir()] == ["model.onnx"]


@pytest.mark.parametrize("diff", [2 * TOLERANCE, float("nan")])
def test_a_failed_check_writes_nothing_and_keeps_an_earlier_file(tmp_path, diff):
    path = tmp_path / "model.pt2"
    path.write_bytes(b"earlier export")
    with pytest.raises(
        ValueError, match="does not match the PyTorch model: max abs diff .* \\(test\\); nothing written"
    ):
        write_verified(path, lambda temporary: open(temporary, "wb").write(b"bad"), _verdict(diff))
    assert path.read_bytes() == b"earlier export" and [entry.name for entry in tmp_path.iterdir()] == ["model.pt2"]


def test_a_write_or_check_that_raises_leaves_no_temporary(tmp_path):
    def broken_write(temporary):
        with open(temporary, "wb") as handle:
            handle.write(b"half")
        raise RuntimeError("exporter crashed")

    with pytest.raises(RuntimeError, match="exporter crashed"):
        write_verified(tmp_path / "m.onnx", broken_write, _verdict(0.0))

    def broken_check(temporary):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        write_verified(tmp_path / "m.onnx", lambda temporary: None, broken_check)
    assert list(tmp_path.iterdir()) == []


def test_model_members_of_a_model_an_ensemble_and_something_else():
    single = _model()
    assert model_members(single) == [single]
    ensemble = Ensemble([_model(), _model(hidden_size=3)])
    assert model_members(ensemble) == list(ensemble.members)

    class TorchNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.gru, self.fc = nn.GRU(3, 4), nn.Linear(4, 1)

    with pytest.raises(TypeError, match="expects a GRUNet or an Ensemble .* got GRU and Linear"):
        model_members(TorchNet())


def test_float32_eval_is_a_float32_copy_in_eval_mode():
    model = _model().double().train()
    copy = float32_eval(model)
    assert copy is not model and not copy.training and model.training
    assert all(p.dtype == torch.float32 for p in copy.parameters())
    assert all(p.dtype == torch.float64 for p in model.parameters())
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    torch.testing.assert_close(copy(x.float()).double(), model.eval()(x), atol=1e-5, rtol=0)
