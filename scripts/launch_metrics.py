"""What SageMaker shows as a training job's metrics: regexes over the job's log lines (docs/training.md, "Logs and
metric definitions", is this table; the local-mode tests match them against a real run's log), and the metric a
tuning job maximises. scripts/launch_commands.py sends them with every training and tuning job.
Standard library only, and nothing else imported: docs tests load it as it is.
"""

CLASSIFIER_METRICS = [
    {"Name": "train:loss", "Regex": r"train_loss=([0-9.]+)"},
    {"Name": "train:accuracy", "Regex": r"train_accuracy=([0-9.]+)"},
    {"Name": "validation:loss", "Regex": r"validation_loss=([0-9.]+)"},
    {"Name": "validation:accuracy", "Regex": r"validation_accuracy=([0-9.]+)"},
    {"Name": "validation:macro_f1", "Regex": r"validation_macro_f1=([0-9.]+)"},
    {"Name": "train:samples_per_second", "Regex": r"samples_per_second=([0-9.]+)"},
    {"Name": "train:epoch_seconds", "Regex": r"epoch_seconds=([0-9.]+)"},
    {"Name": "test:accuracy", "Regex": r"final test: accuracy=([0-9.]+)"},
    {"Name": "test:macro_f1", "Regex": r"final test: accuracy=[0-9.]+ macro_f1=([0-9.]+)"},
]
WORD_VECTOR_METRICS = [
    {"Name": "train:epoch_loss", "Regex": r"epoch=[0-9]+ loss=([0-9.]+)"},
    {"Name": "train:words_per_second", "Regex": r"epoch=[0-9]+ loss=[0-9.]+ words_per_second=([0-9.]+)"},
    {"Name": "train:progress", "Regex": r"progress=([0-9.]+)%"},
    {"Name": "train:recent_loss", "Regex": r"progress=[0-9.]+% words=[0-9]+ words_per_second=[0-9]+ loss=([0-9.]+)"},
]
# The tuning job maximises the classifier's validation accuracy (every run holds out a validation share).
TUNING_OBJECTIVE = "validation:accuracy"
