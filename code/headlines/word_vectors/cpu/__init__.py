"""The word-vector job on CPU instances: a numpy engine (fastText's updates, one thread per core), rounds of the
corpus, and with several hosts the weights exchanged through MXNet's kvstore after every round."""
