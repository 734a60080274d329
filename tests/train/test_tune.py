"""`router tune`: a couple of Optuna trials on a tiny model; the best config reproduces through --config."""

from llm_router.train.config import TrainConfig
from llm_router.train.tune import default_space, tune


def small_space(trial, df, base):
    return {
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
        "class_weights": trial.suggest_categorical("class_weights", ["none", "balanced"]),
    }


def test_tune_on_validation_split(tiny_bert_dir, toy_df, tmp_path):
    base = TrainConfig(model=str(tiny_bert_dir), epochs=1)
    result = tune(toy_df, base, trials=2, folds=0, space=small_space, progress=False)
    assert len(result.trials) == 2 and result.objective == "val"
    assert result.best_value == max(t["macro_f1"] for t in result.trials)
    assert result.config.model == str(tiny_bert_dir) and result.config.epochs == 1
    assert result.config.learning_rate == result.best_params["learning_rate"]
    path = result.config.to_json(tmp_path / "best.json")
    assert TrainConfig.from_json(path) == result.config


def test_tune_with_cv_and_default_space(tiny_bert_dir, toy_df):
    base = TrainConfig(model=str(tiny_bert_dir), epochs=1)
    seen = []

    def quick_default_space(trial, df, base):  # the real search space, but every trial trains one epoch
        return default_space(trial, df, base) | {"epochs": 1, "trainable_layers": 1}

    result = tune(
        toy_df, base, trials=2, folds=2, space=quick_default_space, progress=False, on_trial=seen.append
    )
    assert [r["trial"] for r in seen] == [0, 1]
    assert {"learning_rate", "batch_size", "augment", "class_weights", "oversample"} <= set(result.trials[0])
    assert result.config.extra["tuned"]["folds"] == 2
    # the tuned config is a valid TrainConfig that differs from the base only in searched options
    differing = {k for k, v in result.config.to_dict().items() if v != base.to_dict()[k]} - {"extra"}
    assert differing <= set(result.best_params)


def test_fixed_options_are_not_searched(tiny_bert_dir, toy_df):
    base = TrainConfig(model=str(tiny_bert_dir), epochs=1, augment="", oversample=0.0)
    result = tune(toy_df, base, trials=2, folds=0, progress=False, fixed=["epochs", "augment", "oversample"])
    assert result.config.epochs == 1 and result.config.augment == "" and result.config.oversample == 0.0
    assert all("epochs" not in t and "augment" not in t for t in result.trials)


def test_first_trial_is_the_base_config(tiny_bert_dir, toy_df):
    # the search starts from the configuration it is asked to improve, so it never returns a worse one
    base = TrainConfig(model=str(tiny_bert_dir), epochs=1, learning_rate=3e-3, class_weights="balanced")
    result = tune(toy_df, base, trials=2, folds=0, space=small_space, progress=False)
    first = next(t for t in result.trials if t["trial"] == 0)
    assert first["learning_rate"] == 3e-3 and first["class_weights"] == "balanced"
    # the default space's choices hold every default of TrainConfig (dropout None = the model's own)
    from llm_router.train.tune import _base_values

    searched = _base_values(toy_df, TrainConfig(), default_space, fixed=())
    defaults = TrainConfig()
    assert searched == {k: getattr(defaults, k) for k in searched}
    assert {"learning_rate", "epochs", "dropout", "trainable_layers", "class_weights"} <= set(searched)
