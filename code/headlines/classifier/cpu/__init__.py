"""The classifier on one CPU host: the fasttext architecture's optimizer steps compiled with numba, and the cnn
architecture's in numpy (its matrix products in BLAS, its few loops compiled), each computing what MXNet's steps
compute for the same batch in a fraction of the time. The net, its checkpoints and the model files stay MXNet's: the
steps hand it their parameters whenever the loop evaluates or saves it."""
