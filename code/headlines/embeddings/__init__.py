"""Pretrained fastText-style word vectors: reading every supported file format and initialising an
embedding matrix from them, with coverage statistics."""
