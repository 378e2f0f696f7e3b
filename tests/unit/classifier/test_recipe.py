"""How the classifier trains at each scale (code/headlines/classifier/recipe.py): a pure choice, every case."""

import pytest

from headlines import architectures
from headlines.classifier.recipe import FASTTEXT_RATE_PER_HEADLINE, MIN_SELECTION_ROWS, choose_recipe
from headlines.hyperparameters import Hyperparameters
from tests.support.repo import REPO

FEW, MANY = MIN_SELECTION_ROWS - 1, MIN_SELECTION_ROWS


def _recipe(validation_rows, pretrained, hosts=1, **hyperparameters):
    hp = Hyperparameters.from_strings({k: str(v) for k, v in hyperparameters.items()})
    return choose_recipe(hp, validation_rows, pretrained, hosts)


@pytest.mark.parametrize("pretrained", [False, True])
@pytest.mark.parametrize("architecture, rate", [("fasttext", 0.01), ("cnn", 0.001)])
def test_enough_validation_rows_pick_the_best_epoch_with_adam_at_a_constant_rate(architecture, rate, pretrained):
    recipe = _recipe(MANY, pretrained, architecture=architecture)
    assert (recipe.optimizer, recipe.learning_rate, recipe.linear_decay, recipe.select_on_validation) == (
        "adam",
        rate,
        False,
        True,
    )


def test_few_rows_and_pretrained_vectors_train_a_fasttext_model_as_fasttext_does():
    recipe = _recipe(FEW, pretrained=True, batch_size=32)
    assert recipe.optimizer == "sgd" and recipe.learning_rate == pytest.approx(FASTTEXT_RATE_PER_HEADLINE * 32)
    assert recipe.linear_decay and not recipe.select_on_validation
    assert f"{FEW} rows, fewer than the {MIN_SELECTION_ROWS}" in recipe.reason


@pytest.mark.parametrize(
    "architecture, pretrained, rate", [("fasttext", False, 0.01), ("cnn", True, 0.003), ("cnn", False, 0.003)]
)
def test_few_rows_otherwise_keep_adam_at_the_architectures_few_rows_rate_and_decay_it(architecture, pretrained, rate):
    recipe = _recipe(FEW, pretrained, architecture=architecture)
    assert recipe.optimizer == "adam" and recipe.learning_rate == rate
    assert recipe.linear_decay and not recipe.select_on_validation


def test_several_hosts_keep_the_rate_the_servers_were_given():
    assert not _recipe(FEW, pretrained=True, hosts=2).linear_decay


def test_what_the_user_sets_wins():
    recipe = _recipe(FEW, True, optimizer="adam", learning_rate=0.2, lr_schedule="constant")
    assert (recipe.optimizer, recipe.learning_rate, recipe.linear_decay) == ("adam", 0.2, False)
    recipe = _recipe(MANY, False, optimizer="sgd", lr_schedule="linear")
    assert recipe.optimizer == "sgd" and recipe.learning_rate == pytest.approx(6.4) and recipe.linear_decay


def test_the_documented_table_says_what_the_code_chooses():
    text = (REPO / "docs" / "training.md").read_text(encoding="utf-8")
    table = text[text.index("## At every scale") : text.index("## Models")]
    assert f"| {MIN_SELECTION_ROWS} or more |" in table and table.count(f"| fewer than {MIN_SELECTION_ROWS} |") == 2
    assert f"SGD at fastText's {FASTTEXT_RATE_PER_HEADLINE} per headline" in table
    rates = ", ".join(f"{a.name} {a.default_learning_rate}" for a in architectures.ARCHITECTURES.values())
    assert f"Adam at the architecture's rate ({rates})" in table
    rates = ", ".join(f"{a.name} {a.few_rows_learning_rate}" for a in architectures.ARCHITECTURES.values())
    assert f"Adam at the architecture's rate for few rows ({rates})" in table
