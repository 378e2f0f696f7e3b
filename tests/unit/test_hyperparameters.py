import pytest

from headlines.errors import JobError
from headlines.hyperparameters import Hyperparameters


def test_defaults_when_nothing_is_given():
    hp = Hyperparameters.from_strings({})
    assert hp.architecture == "fasttext"
    assert hp.epochs == 20
    assert hp.kernel_sizes == (1, 2, 3)
    assert hp.optimizer is hp.learning_rate is hp.lr_schedule is None  # auto: classifier/recipe.py chooses


def test_strings_become_typed_values():
    hp = Hyperparameters.from_strings(
        {
            "epochs": "7",
            "learning_rate": "0.5",
            "lowercase": "False",
            "kernel_sizes": "2, 3",
            "embedding_dim": "auto",
            "architecture": "CNN",
        }
    )
    assert (hp.epochs, hp.learning_rate, hp.lowercase, hp.kernel_sizes) == (7, 0.5, False, (2, 3))
    assert hp.embedding_dim is None
    assert hp.architecture == "cnn"


def test_json_encoded_values_from_framework_estimators():
    hp = Hyperparameters.from_strings({"architecture": '"cnn"', "epochs": "3"})
    assert hp.architecture == "cnn"


def test_sagemaker_keys_are_ignored():
    hp = Hyperparameters.from_strings(
        {
            "sagemaker_program": "x.py",
            "sagemaker_region": '"us-east-1"',
            "_tuning_objective_metric": "validation:accuracy",
        }
    )
    assert hp == Hyperparameters()


def test_unknown_key_names_it_and_lists_valid_ones():
    with pytest.raises(JobError) as error:
        Hyperparameters.from_strings({"epoch": "3"})
    message = str(error.value)
    assert "'epoch'" in message and "epochs" in message and "learning_rate" in message


@pytest.mark.parametrize(
    "key,value",
    [
        ("epochs", "three"),
        ("epochs", "0"),
        ("dropout", "1.0"),
        ("learning_rate", "-1"),
        ("architecture", "rnn"),
        ("lowercase", "maybe"),
        ("kernel_sizes", "3,x"),
        ("validation_fraction", "0"),
        ("learning_rate", "nan"),
    ],
)
def test_malformed_value_names_the_key_and_what_it_expects(key, value):
    with pytest.raises(JobError) as error:
        Hyperparameters.from_strings({key: value})
    assert f"'{key}'" in str(error.value)
    assert repr(value) in str(error.value)


def test_every_hyperparameter_is_described():
    names = [row[0] for row in Hyperparameters.describe()]
    assert "architecture" in names and all(row[3] for row in Hyperparameters.describe())
