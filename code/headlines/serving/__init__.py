"""The serving image's package: request codecs, the predictor, the Flask app and the gunicorn server."""
