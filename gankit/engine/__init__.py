"""The training engine: built components in, checkpoints, samples, metrics and plots out."""
