"""The scenarios and their claims."""

from l1lab.suite import scenarios


def test_scenarios_are_well_formed():
    for name, scenario in scenarios.SCENARIOS.items():
        assert scenario.name == name and scenario.epochs == scenarios.ARTICLE_EPOCHS
        scenario.config(seed=0).validate()
        assert len({c.id for c in scenario.claims}) == len(scenario.claims)
    article = {s.article_flag for s in scenarios.SCENARIOS.values()}
    assert {"regL1Try1", "regL1Try3", "regL1Alt", None} <= article
