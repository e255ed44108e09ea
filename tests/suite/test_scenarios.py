"""The scenarios and their claims."""

import dataclasses

import pytest

from l1lab.suite import scenarios


def test_scenarios_are_well_formed():
    for name, scenario in scenarios.SCENARIOS.items():
        # The article's experiment runs 200 epochs on its split; the edge scenarios 20 on the standard one;
        # the CNN's 6 on Fashion-MNIST's (a CNN's epoch costs what twenty of the article's network do).
        assert scenario.name == name
        runs = (("article", scenarios.ARTICLE_EPOCHS, "mlp"), ("standard", 20, "mlp"), ("standard", 6, "ds-cnn"))
        assert (scenario.split, scenario.epochs, scenario.model) in runs
        scenario.config(seed=0).validate()
        assert len({c.id for c in scenario.claims}) == len(scenario.claims)
    article = {s.article_flag for s in scenarios.SCENARIOS.values()}
    assert {"regL1Try1", "regL1Try3", "regL1Alt", None} <= article


def test_a_structure_claim_needs_a_scenario_that_records_structure():
    edge = scenarios.get_scenario("edge-group-target")
    assert edge.structure and any(c.metric == "multiply_adds" for c in edge.claims)
    with pytest.raises(ValueError, match="claim macs-under-20k needs structure=True"):
        dataclasses.replace(edge, structure=False)


def test_the_cnn_scenario_records_its_channels():
    cnn = scenarios.get_scenario("cnn-channels")
    config = cnn.config(seed=1)
    assert (config.model, config.dataset, config.options.channel_l1) == ("ds-cnn", "fashion-mnist", 0.02)
    assert {c.metric for c in cnn.claims} == {"removed_channels", "multiply_adds", "inacc_test"}
    with pytest.raises(ValueError, match="claim removes-a-third needs structure=True"):
        dataclasses.replace(cnn, structure=False)


def test_a_microcontroller_claim_needs_a_scenario_that_records_it():
    micro = scenarios.get_scenario("edge-micro")
    assert micro.micro and {c.metric for c in micro.claims} >= {"micro_runs", "arena_bytes", "flash_bytes"}
    with pytest.raises(ValueError, match="claim tflm-runs needs micro=True"):
        dataclasses.replace(micro, micro=False)


def test_the_micro_hook_measures_a_compacted_int8_full_file_in_tflm(planted_model, tiny_split):
    """What the edge-micro scenario records per epoch, on a planted model (no training)."""
    split = tiny_split()
    measure = scenarios._micro_of(split)
    figures = measure(planted_model())
    assert figures["micro_runs"] == 1 and 1000 < figures["arena_bytes"] < 10_000
    assert figures["flash_bytes"] > 0 and 0 <= figures["micro_disagreements"] <= len(split.x_test) // 10
