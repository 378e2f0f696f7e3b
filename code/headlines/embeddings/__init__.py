"""Word vectors as files: fastText's formats, read and written in one module, and pretrained vectors read for the
classifier's embedding layer, with coverage statistics."""
