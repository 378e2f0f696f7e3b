"""A gunicorn server with the serving image's options and workers around a WSGI app whose requests take as long as
asked (`POST /slow?seconds=S`), for tests of the workers themselves: `python -m tests.support.slow_server PORT
TIMEOUT`. GET /ping answers 200 at once, as the serving app's does."""

import sys
import time
from urllib.parse import parse_qs

from gunicorn.app.base import BaseApplication

from headlines.environment import ServingEnvironment
from headlines.serving import server


def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        environ["wsgi.input"].read()
        time.sleep(float(parse_qs(environ["QUERY_STRING"])["seconds"][0]))
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"done"]


class SlowServer(BaseApplication):
    def load_config(self):
        settings = ServingEnvironment.from_environ(
            {"SAGEMAKER_BIND_TO_PORT": sys.argv[1], "SAGEMAKER_MODEL_SERVER_TIMEOUT": sys.argv[2]}, cpu_count=2
        )
        for key, value in server.gunicorn_options(settings).items():
            self.cfg.set(key, value)
        self.cfg.set("workers", 2)

    def load(self):
        return app


if __name__ == "__main__":
    SlowServer().run()
