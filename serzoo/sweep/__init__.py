"""Sweeps: a grid of training configurations, each trial a run directory, ranked on validation scores."""
