"""GRUNet's optional inputs (known-future columns at the head, the padding mask, the window norms) and Ensemble."""

import numpy as np
import pytest
import torch

from grunet.model import Ensemble, GRUNet, median


def _model(**kwargs):
    torch.manual_seed(0)
    return GRUNet(**{"input_size": 3, "hidden_size": 6, "output_size": 4, "num_layers": 1, **kwargs}).double()


def test_the_head_sees_the_future_columns_of_each_step():
    model = _model(future_size=2)
    assert model.fc.in_features == 6 + 4 * 2
    x, future = torch.randn(5, 7, 3, dtype=torch.float64), torch.randn(5, 4, 2, dtype=torch.float64)
    out = model(x, future)
    changed = future.clone()
    changed[:, 3, 1] += 1.0  # one column at the last horizon step
    delta = model(x, changed) - out
    weight = model.fc.weight[:, 6 + 3 * 2 + 1]  # the head's weights on exactly that input
    assert torch.allclose(delta, weight.expand(5, 4))
    with pytest.raises(ValueError, match=r"known-future input of shape \(batch, horizon=4, future_size=2\)"):
        model(x)
    with pytest.raises(ValueError, match="no known-future columns"):
        _model()(x, future)


def test_padded_steps_change_nothing_under_the_mask():
    """With the mask, what lies in padded steps of the target cannot change the forecast, for every window norm
    (the norms use observed steps only)."""
    for norm in ("none", "mean", "last", "meanabs"):
        model = _model(mask=True, window_norm=norm)
        x = torch.randn(4, 8, 3, dtype=torch.float64) + 2
        x[..., -1] = 1.0
        x[:, :5, -1] = 0.0  # five padded steps
        x[:, :5, 0] = 0.0
        noisy = x.clone()
        noisy[:, :5, 0] = torch.randn(4, 5, dtype=torch.float64) * 100
        if norm == "none":  # without a norm the target goes in as given: the mask is an input the model learns
            assert not torch.allclose(model(x), model(noisy))
        else:
            assert torch.allclose(model(x), model(noisy)), norm


def test_window_norms_are_equivariant():
    x = torch.randn(4, 8, 3, dtype=torch.float64)
    for norm, transform, back in [
        ("mean", lambda t: t + 5.0, lambda y: y + 5.0),
        ("last", lambda t: t - 3.0, lambda y: y - 3.0),
        ("meanabs", lambda t: t * 7.0, lambda y: y * 7.0),
    ]:
        model = _model(window_norm=norm)
        moved = x.clone()
        moved[..., 0] = transform(moved[..., 0])
        assert torch.allclose(model(moved), back(model(x))), norm


def test_ensemble_is_the_median_of_its_members():
    members = [_model() for _ in range(3)]
    for seed, member in enumerate(members):
        torch.manual_seed(seed)
        for parameter in member.parameters():
            torch.nn.init.normal_(parameter)
    x = torch.randn(5, 7, 3, dtype=torch.float64)
    outputs = np.stack([member(x).detach().numpy() for member in members])
    assert np.allclose(Ensemble(members)(x).detach().numpy(), np.median(outputs, axis=0))
    assert np.allclose(Ensemble(members[:2])(x).detach().numpy(), np.median(outputs[:2], axis=0))  # even count
    assert torch.equal(median(torch.tensor([[3.0], [1.0], [2.0], [10.0]])), torch.tensor([2.5]))
    with pytest.raises(ValueError, match="at least one"):
        Ensemble([])


@pytest.mark.parametrize("num_layers", [1, 2])
def test_head_reads_the_last_step_and_its_gradients_match(num_layers):
    """GRUNet takes the last step from h_n (a cheaper backward); values and gradients must be those of
    output[:, -1], the tutorial's `out[:, -1, :]`."""
    torch.manual_seed(0)
    model = GRUNet(2, 5, 3, num_layers).double()
    x = torch.randn(4, 7, 2, dtype=torch.float64)
    ours = model(x)
    ours.square().sum().backward()
    grads = [parameter.grad.clone() for parameter in model.parameters()]
    model.zero_grad()
    output, _ = model.gru(x)
    tutorial = model.fc(output[:, -1, :])
    tutorial.square().sum().backward()
    assert torch.equal(ours, tutorial)  # the same hidden slot, copied
    for got, want in zip(grads, [parameter.grad for parameter in model.parameters()]):
        torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)


def test_the_autoregressive_skip_starts_at_zero_and_adds_a_linear_term():
    torch.manual_seed(0)
    plain = GRUNet(2, 8, 3, window_norm="last")
    torch.manual_seed(0)
    skip = GRUNet(2, 8, 3, window_norm="last", ar=4)
    x = torch.randn(5, 10, 2)
    with torch.no_grad():
        assert torch.equal(plain(x), skip(x))  # same draws for the GRU and head; the skip's weights start at zero
        skip.ar.weight.normal_()
        normalised = x[:, -4:, 0] - x[:, -1:, 0]  # the window norm 'last'
        expected = plain(x) + normalised @ skip.ar.weight.T
        torch.testing.assert_close(skip(x), expected)
    with pytest.raises(ValueError, match="ar must be an integer >= 0"):
        GRUNet(2, 8, 3, ar=-1)


@pytest.mark.parametrize("window_norm", ["none", "last", "meanabs"])
def test_init_skip_starts_the_model_at_the_least_squares_autoregression(window_norm):
    """On a process that is an exact AR(2) in every normalised space (a line: y_t = 2 y_{t-1} - y_{t-2}), the
    initialised model forecasts it (the GRU's head starts at zero weights); training has only the residual left."""
    values = 5 + 0.5 * torch.arange(60, dtype=torch.float64)
    windows = values.unfold(0, 6, 1)[:-1]  # (N, 6)
    targets = values[6:, None]  # (N, 1) the next value
    model = GRUNet(1, 8, 1, window_norm=window_norm, ar=2).double()
    model.init_skip(windows[:, :, None], targets, ridge=1e-9)
    with torch.no_grad():
        forecast = model(windows[:, :, None])
    torch.testing.assert_close(forecast, targets, atol=1e-5, rtol=1e-6)
    assert torch.count_nonzero(model.fc.weight) == 0


def test_the_seasonal_change_starts_at_the_seasonal_naive_forecast():
    """With a zero head and no skip, a seasonal model forecasts the window's values one season back, repeated over a
    horizon longer than the season; init_skip fits what differs from them."""
    model = GRUNet(1, 4, 6, window_norm="last", seasonal=4, ar=0)
    with torch.no_grad():
        model.fc.weight.zero_(), model.fc.bias.zero_()
    x = torch.arange(1.0, 9.0).reshape(1, 8, 1)  # 1 .. 8
    with torch.no_grad():
        assert model(x).tolist() == [[5.0, 6.0, 7.0, 8.0, 5.0, 6.0]]
    trend = 5 + 0.5 * torch.arange(80, dtype=torch.float64) + torch.sin(torch.arange(80) * torch.pi / 2).double()
    windows, targets = trend.unfold(0, 8, 1)[:-6], trend.unfold(0, 6, 1)[8:]
    skip = GRUNet(1, 4, 6, window_norm="last", seasonal=4, ar=4).double()
    skip.init_skip(windows[:, :, None], targets, ridge=1e-9)
    with torch.no_grad():
        torch.testing.assert_close(skip(windows[:, :, None]), targets, atol=1e-5, rtol=1e-6)
    with pytest.raises(ValueError, match="seasonal must be"):
        GRUNet(1, 4, 6, seasonal=8, input_steps=4)


def test_a_window_near_zero_does_not_throw_the_meanabs_skip_off():
    """meanabs divides by each window's scale: a window of a series passing near zero has a normalised target
    thousands of times its lags. The skip's fit is weighted by the squared scale (the forecast's own squared
    error), so the initialised model still forecasts the other windows as the linear autoregression does."""
    values = 5 + 0.5 * torch.arange(60, dtype=torch.float64)
    windows = values.unfold(0, 6, 1)[:-1].clone()  # (N, 6), a line: an exact AR(2)
    targets = values[6:, None].clone()
    windows[0], targets[0] = windows[1] * 1e-4, 3.0  # window 1's shape at a scale of ~1e-3, a target of 3
    model = GRUNet(1, 8, 1, window_norm="meanabs", ar=2).double()
    model.init_skip(windows[:, :, None], targets, ridge=1e-9)
    with torch.no_grad():
        forecast = model(windows[:, :, None])
    assert float((forecast[1:] - targets[1:]).abs().max()) < 0.5  # unweighted: errors in the thousands
