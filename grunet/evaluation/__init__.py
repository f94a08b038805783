"""Evaluation: baselines, metrics, and the scoring of forecasts on held-out windows."""
