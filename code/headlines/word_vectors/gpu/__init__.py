"""The word-vector job on GPU instances: examples built on the host in numpy, one MXNet step per GPU."""
