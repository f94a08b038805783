"""Training: the loop (Adam, MSE, early stopping), the optimiser and schedules, data-parallel training."""
