"""What both training jobs run on: the hosts of a job and their kvstore, the devices, checkpoints, SIGTERM and the
learning-rate schedule."""
