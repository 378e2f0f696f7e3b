"""The toolkit image's entrypoint, doing what the entrypoint of AWS's MXNet inference container (DLC) does:
`serve` runs sagemaker_mxnet_serving_container.serving.main() in this process (it writes the model server's
configuration, starts multi-model-server and waits for it); any other command runs as given."""

import subprocess
import sys

if sys.argv[1:] == ["serve"]:
    from sagemaker_mxnet_serving_container import serving

    serving.main()
else:
    sys.exit(subprocess.call(sys.argv[1:]))
