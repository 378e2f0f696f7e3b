"""The word-vector job: BlazingText's word2vec modes (skipgram, cbow, batch_skipgram) from a text corpus to
vectors.txt and vectors.bin."""
