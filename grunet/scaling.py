"""Per-series scaling, fitted on the train part only; numpy alone (the ONNX prediction path uses it without torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Scaler:
    """Per-series, per-column affine scaling ``scaled = (value - shift) / scale``, fitted on the train part.

    With `log`, target values (column 0) are first replaced by their natural log (for positive series with
    multiplicative growth); feature columns, which may be 0/1 flags, are not.
    shift, scale: (num_series, num_columns).
    """

    method: str
    log: bool
    shift: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, parts: list[np.ndarray], method: str = "standard", log: bool = False) -> Scaler:
        """parts: per series, the train part (n_i, F). method: 'none', 'standard' or 'minmax'. Parts of one length
        are fitted together, stacked (the same reductions, row by row, as one part at a time)."""
        if method not in ("none", "standard", "minmax"):
            raise ValueError(f"scale must be one of none, standard, minmax; got {method!r}")
        if not parts:
            return cls(method, log, np.array([], dtype=np.float64), np.array([], dtype=np.float64))
        alike: dict[tuple, list[int]] = {}
        for index, part in enumerate(parts):
            alike.setdefault(np.shape(part), []).append(index)
        columns = np.shape(parts[0])[1]
        shift, scale = np.empty((len(parts), columns)), np.empty((len(parts), columns))
        for members in alike.values():
            stack = np.stack([parts[index] for index in members])  # (series, n, F)
            if log:
                stack = stack.astype(np.float64)
                stack[..., 0] = np.log(stack[..., 0])
            with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below, not warned about
                if method == "standard":
                    shift[members], scale[members] = stack.mean(axis=1), stack.std(axis=1)
                elif method == "minmax":
                    shift[members] = stack.min(axis=1)
                    scale[members] = stack.max(axis=1) - stack.min(axis=1)
                else:
                    shift[members], scale[members] = 0.0, 1.0
        broken = ~(np.isfinite(shift).all(axis=1) & np.isfinite(scale).all(axis=1))
        if broken.any():
            part = parts[int(np.flatnonzero(broken)[0])]
            part = _log_target(part) if log else part
            largest = float(np.nanmax(np.abs(part))) if part.size else float("nan")
            raise ValueError(
                f"the data's values are too large to scale (values up to {largest:.3g}: their mean or "
                f"spread overflows float64); divide the series by a constant before training"
            )
        return cls(method, log, shift, np.where(scale > 0, scale, 1.0))  # a constant column is only shifted

    def transform(self, values: np.ndarray, series: int | np.ndarray) -> np.ndarray:
        """values (n, F) of series `series` (or of each row's series, (n,)) -> scaled (n, F)."""
        values = _log_target(values) if self.log else values
        return (values - self.shift[series]) / self.scale[series]

    def transform_target(self, values: np.ndarray, series: np.ndarray | int) -> np.ndarray:
        """Target values (N, ...) in original units to scaled units; `series` gives each row's series index."""
        series = np.asarray(series)
        shape = (-1,) + (1,) * (np.ndim(values) - 1) if series.ndim else ()
        values = np.asarray(values, dtype=np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            values = np.log(values) if self.log else values
        return (values - self.shift[series, 0].reshape(shape)) / self.scale[series, 0].reshape(shape)

    def inverse_target(self, scaled: np.ndarray, series: np.ndarray | int) -> np.ndarray:
        """Scaled target values (N, ...) back to original units; `series` gives each row's series index."""
        series = np.asarray(series)
        shape = (-1,) + (1,) * (np.ndim(scaled) - 1) if series.ndim else ()
        shift = self.shift[series, 0].reshape(shape)
        scale = self.scale[series, 0].reshape(shape)
        values = scaled * scale + shift
        return np.exp(values) if self.log else values

    def to_dict(self) -> dict:
        return {"method": self.method, "log": self.log, "shift": self.shift.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: dict, source: str = "the scaler") -> Scaler:
        """The Scaler `to_dict` wrote, checked: ValueError naming `source` (the file) for a missing entry, a shape
        that is not (series, columns), a shift that is not finite or a scale that is not finite and > 0 (a
        forecast would be NaN or infinite)."""
        if not isinstance(data, dict) or not {"method", "log", "shift", "scale"} <= data.keys():
            raise ValueError(f"{source}: the scaler must hold method, log, shift and scale")
        if data["method"] not in ("none", "standard", "minmax") or not isinstance(data["log"], bool):
            raise ValueError(
                f"{source}: the scaler's method must be none, standard or minmax and its log true or "
                f"false, got {data['method']!r} and {data['log']!r}"
            )
        arrays = {}
        for key in ("shift", "scale"):
            try:
                arrays[key] = np.array(data[key], dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(
                    f"{source}: the scaler's {key} must be a table of numbers (one row per series, "
                    f"one column per input column)"
                ) from None
            if arrays[key].ndim != 2 or not arrays[key].size:
                raise ValueError(
                    f"{source}: the scaler's {key} must be a table of numbers (one row per series, "
                    f"one column per input column), got shape {arrays[key].shape}"
                )
        shift, scale = arrays["shift"], arrays["scale"]
        if shift.shape != scale.shape:
            raise ValueError(f"{source}: the scaler's shift {shift.shape} and scale {scale.shape} differ in shape")
        if not np.isfinite(shift).all():
            raise ValueError(f"{source}: the scaler's shift holds values that are not finite (NaN or infinite)")
        if not (np.isfinite(scale) & (scale > 0)).all():
            bad = scale[~(np.isfinite(scale) & (scale > 0))][0]
            raise ValueError(
                f"{source}: the scaler's scale must be finite and > 0 for every series and column, got {bad:g}"
            )
        return cls(data["method"], data["log"], shift, scale)


def _log_target(values: np.ndarray) -> np.ndarray:
    """(n, F) -> a copy with column 0 replaced by its natural log."""
    values = np.array(values, dtype=np.float64)
    values[:, 0] = np.log(values[:, 0])
    return values
