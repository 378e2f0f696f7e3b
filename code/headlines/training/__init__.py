"""The classifier training job: orchestration, the device-parallel training loop, checkpoints, SIGTERM,
metrics and plots."""
