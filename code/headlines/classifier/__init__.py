"""The classifier training job: its stages from channels to the model folder, the device-parallel training loop,
metrics and plots."""
