"""`utils.layers`: cutting a config down to some of its encoder layers."""

from types import SimpleNamespace

from llm_router.utils.layers import keep_config_layers


def test_keep_config_layers_sets_the_count_and_follows_per_layer_lists():
    config = SimpleNamespace(num_hidden_layers=4, layer_types=["full", "sliding", "full", "sliding"])
    keep_config_layers(config, [0, 1, 3])
    assert config.num_hidden_layers == 3 and config.layer_types == ["full", "sliding", "sliding"]
    plain = SimpleNamespace(num_hidden_layers=12)  # no per-layer list: only the count changes
    keep_config_layers(plain, [0, 1])
    assert plain.num_hidden_layers == 2 and not hasattr(plain, "layer_types")
