"""Every name and number of the SageMaker container contract that this package relies on, in one place.

Sources: the SageMaker Developer Guide and AWS's training and inference toolkits, as docs/design.md ("The SageMaker
contract") lists them; docs/training.md and docs/serving.md say how the images meet each part.
"""

# Root of everything SageMaker mounts; SAGEMAKER_BASE_DIR relocates it (tests use a temporary folder).
DEFAULT_BASE_DIR = "/opt/ml"
BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"

# Paths below the base directory.
HYPERPARAMETERS_FILE = "input/config/hyperparameters.json"
INPUT_DATA_CONFIG_FILE = "input/config/inputdataconfig.json"
RESOURCE_CONFIG_FILE = "input/config/resourceconfig.json"
CHECKPOINT_CONFIG_FILE = "input/config/checkpointconfig.json"
INPUT_DATA_DIR = "input/data"
MODEL_DIR = "model"
OUTPUT_DATA_DIR = "output/data"
FAILURE_FILE = "output/failure"
# Outside the base directory on purpose: SageMaker mounts checkpoints at this absolute path.
DEFAULT_CHECKPOINT_DIR = "/opt/ml/checkpoints"

# SageMaker keeps only this many characters of the failure file as FailureReason.
FAILURE_REASON_MAX_CHARS = 1024

# The number of GPUs to train on, when set (sagemaker-training's name for it; the tests set 0); without it, every
# GPU MXNet sees. The job's hosts and this host's name come from resourceconfig.json only, not from SM_HOSTS or
# SM_CURRENT_HOST: SageMaker writes that file into every training container, while those variables are set by
# AWS's training toolkit, which these images do not use.
NUM_GPUS_ENV = "SM_NUM_GPUS"

# inputdataconfig.json: how a channel's S3 objects are spread over the hosts.
S3_DISTRIBUTION_KEY = "S3DistributionType"
SHARDED_BY_S3_KEY = "ShardedByS3Key"
# inputdataconfig.json: how a channel reaches the container. File: a folder of the objects; FastFile: the same
# folder, its files streamed from S3 as they are read; Pipe: a FIFO a pass, input/data/<channel>_<pass>, each
# streaming the channel's objects one after another.
INPUT_MODE_KEY = "TrainingInputMode"
FILE_MODES = ("File", "FastFile")
PIPE_MODE = "Pipe"
RECORD_WRAPPER_KEY = "RecordWrapperType"
NO_RECORD_WRAPPER = "None"

# Hyperparameters that SageMaker and its SDKs add on their own; an algorithm ignores them. A tuning job adds the
# objective's name to each of its training jobs.
SAGEMAKER_HYPERPARAMETER_PREFIX = "sagemaker_"
TUNING_OBJECTIVE_HYPERPARAMETER = "_tuning_objective_metric"

# Channels this algorithm reads.
TRAIN_CHANNEL = "train"
VALIDATION_CHANNEL = "validation"
TEST_CHANNEL = "test"
EMBEDDINGS_CHANNEL = "embeddings"
EVALUATION_CHANNEL = "evaluation"
KNOWN_CHANNELS = (TRAIN_CHANNEL, VALIDATION_CHANNEL, TEST_CHANNEL, EMBEDDINGS_CHANNEL)  # the classifier's
WORD_VECTOR_CHANNELS = (TRAIN_CHANNEL, EVALUATION_CHANNEL)  # BlazingText's word2vec modes

# Hosting and batch transform ("your-algorithms-inference-code", "your-algorithms-batch-code",
# aws/sagemaker-inference-toolkit's environment.py).
SERVING_PORT_ENV = "SAGEMAKER_BIND_TO_PORT"
DEFAULT_SERVING_PORT = 8080
MODEL_SERVER_WORKERS_ENV = "SAGEMAKER_MODEL_SERVER_WORKERS"
MODEL_SERVER_TIMEOUT_ENV = "SAGEMAKER_MODEL_SERVER_TIMEOUT"
DEFAULT_MODEL_SERVER_TIMEOUT = 60
BATCH_ENV = "SAGEMAKER_BATCH"
MAX_PAYLOAD_ENV = "SAGEMAKER_MAX_PAYLOAD_IN_MB"
BATCH_STRATEGY_ENV = "SAGEMAKER_BATCH_STRATEGY"
MAX_CONCURRENT_TRANSFORMS_ENV = "SAGEMAKER_MAX_CONCURRENT_TRANSFORMS"
DEFAULT_MAX_PAYLOAD_MB = 6
MAX_BATCH_PAYLOAD_MB = 100  # also the limit of MaxConcurrentTransforms x MaxPayloadInMB
BATCH_STRATEGIES = ("MULTI_RECORD", "SINGLE_RECORD")
# What one request may hold (this image's own limits, in the style of SageMaker's names; docs/serving.md's limits
# table): instances (headlines or words), characters per headline, characters per token (a run of characters
# between whitespace; a word of the word-vector route), and words x neighbours of a word-vector request. The
# instance limit's default is one per BYTES_PER_INSTANCE bytes of the body limit.
MAX_INSTANCES_ENV = "SAGEMAKER_MAX_INSTANCES_PER_REQUEST"
BYTES_PER_INSTANCE = 32
MAX_HEADLINE_CHARS_ENV = "SAGEMAKER_MAX_HEADLINE_CHARS"
DEFAULT_MAX_HEADLINE_CHARS = 10_000
MAX_TOKEN_CHARS_ENV = "SAGEMAKER_MAX_TOKEN_CHARS"
DEFAULT_MAX_TOKEN_CHARS = 256
MAX_NEIGHBOURS_ENV = "SAGEMAKER_MAX_NEIGHBOURS_PER_REQUEST"
DEFAULT_MAX_NEIGHBOURS = 100_000
# InvokeEndpoint's CustomAttributes (the SDK's custom_attributes=; up to 1,024 visible ASCII characters) reach the
# container as this header, the caller's free-form string. Here it is key=value pairs separated by ";" or ",", of
# which these keys are read (other keys are ignored: other tooling may add its own).
CUSTOM_ATTRIBUTES_HEADER = "X-Amzn-SageMaker-Custom-Attributes"
TOP_K_ATTRIBUTE = "top_k"  # the classifier's
NEIGHBOURS_ATTRIBUTE = "neighbours"  # the word vectors'
# A batch transform job's Accept (TransformOutput.Accept), which SageMaker also passes in this env var
# (aws/sagemaker-inference-toolkit's environment.py reads it as the default Accept).
DEFAULT_ACCEPT_ENV = "SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT"
# What /invocations answers (serving/codecs.py); a transform job's Accept must be one of them.
RESPONSE_TYPES = ("application/json", "application/jsonlines", "text/csv")
# What /invocations reads (serving/codecs.py), and which of them batch transform's InputFilter, OutputFilter and
# JoinSource can select in (CSV and JSON records only).
REQUEST_TYPES = ("application/json", "application/jsonlines", "text/csv", "text/plain")
DATA_PROCESSING_TYPES = ("application/json", "application/jsonlines", "text/csv")
JOIN_SOURCES = ("Input", "None")
MAX_JSONPATH_CHARS = 63  # DataProcessing's InputFilter and OutputFilter
PING_PATH = "/ping"
INVOCATIONS_PATH = "/invocations"
EXECUTION_PARAMETERS_PATH = "/execution-parameters"
# SageMaker sends SIGTERM to a hosting container and SIGKILL this many seconds later.
HOSTING_STOP_GRACE_SECONDS = 30

# Multi-model endpoints ("build-multi-model-build-container", "mms-container-apis"). An image that declares the label
# gets SAGEMAKER_MULTI_MODEL=true from SageMaker in a model of Mode=MultiModel; SageMaker then places each model's
# files in /opt/ml/models/<model_name>/model and calls the model routes below, with the caller's TargetModel in the
# X-Amzn-SageMaker-Target-Model header (for logs only). Multi Model Server's answers (awslabs/multi-model-server,
# ManagementRequestHandler.java, ModelManager.java) settle what the guide leaves open: /ping is 200 with no model
# loaded, and List Models takes a page size `limit` (default and maximum 100) beside next_page_token.
MULTI_MODEL_LABEL = "com.amazonaws.sagemaker.capabilities.multi-models"
MULTI_MODEL_ENV = "SAGEMAKER_MULTI_MODEL"
MULTI_MODEL_DIR = "models"
MODELS_PATH = "/models"
MODEL_INVOKE_SUFFIX = "/invoke"
TARGET_MODEL_HEADER = "X-Amzn-SageMaker-Target-Model"
LOAD_MODEL_FIELDS = ("model_name", "url")
# A model_name: printable, starting with a non-space, at most this long (InvokeEndpoint's TargetModel pattern
# \A\S[\p{Print}]*\z and its 1,024-character maximum), and without "/".
MAX_MODEL_NAME_CHARS = 1024
MODELS_KEY = "models"  # List Models' answer: {"models": [{"modelName": ..., "modelUrl": ...}], "nextPageToken": ...}
MODEL_NAME_KEY = "modelName"
MODEL_URL_KEY = "modelUrl"
NEXT_PAGE_TOKEN_PARAM = "next_page_token"
NEXT_PAGE_TOKEN_KEY = "nextPageToken"
PAGE_SIZE_PARAM = "limit"
MAX_PAGE_SIZE = 100
NO_MEMORY_STATUS = 507  # Load Model: not enough memory; SageMaker unloads unused models, then asks again (409: loaded)
