"""``defaults.toml`` and each component's parameter dataclass state the same defaults.

Components read their section with ``Config.params``; the dataclass defaults are what a hand-made
``Config`` falls back to. If the two drifted, tests and production would run different settings.
"""

from __future__ import annotations

import importlib
from dataclasses import fields

import pytest

from ltrr.config import load_config

SECTIONS = [
    ("catalog", "ltrr.config:CatalogConfig"),
    ("ingest", "ltrr.config:IngestConfig"),
    ("storage", "ltrr.config:StorageConfig"),
    ("search", "ltrr.engine:SearchParams"),
    ("search.cache", "ltrr.retrieve.list_cache:ListCacheParams"),
    ("evaluate", "ltrr.evaluate.runner:EvaluateParams"),
    ("merge.fusion", "ltrr.merge.rrf:FusionParams"),
    ("rank", "ltrr.rank:RankParams"),
    ("rank.fusion", "ltrr.rank.fusion:FusionRankParams"),
    ("rank.text", "ltrr.rank.text_index:TextParams"),
    ("rank.lambdamart", "ltrr.rank.lambdamart:LambdaMartParams"),
    ("benchmark.misspell", "ltrr.evaluate.misspell:MisspellParams"),
    ("understand", "ltrr.understand.understander:UnderstandParams"),
    ("understand.vocabulary", "ltrr.understand.vocabulary:VocabularyParams"),
    ("understand.spell", "ltrr.understand.spell:SpellParams"),
    ("understand.tagger", "ltrr.understand.tagger:TaggerParams"),
    ("understand.intent", "ltrr.understand.intent:IntentParams"),
    ("retrieve.lexical", "ltrr.retrieve.lexical:LexicalParams"),
    ("retrieve.fuzzy", "ltrr.retrieve.fuzzy:FuzzyParams"),
    ("retrieve.structured", "ltrr.retrieve.structured:StructuredParams"),
    ("retrieve.memory", "ltrr.retrieve.memory:MemoryParams"),
    ("retrieve.popular", "ltrr.retrieve.popular:PopularParams"),
    ("retrieve.related", "ltrr.retrieve.related:RelatedParams"),
    ("retrieve.explore", "ltrr.retrieve.explore:ExploreParams"),
    ("retrieve.dense", "ltrr.retrieve.dense:DenseParams"),
    ("log", "ltrr.log.params:LogParams"),
    ("select", "ltrr.select:SelectParams"),
    ("learn", "ltrr.learn.learner:LearnParams"),
    ("simulate", "ltrr.simulate.params:SimulateParams"),
    ("select.ltrr", "ltrr.select.bandit:BanditParams"),
    ("select.vw", "ltrr.select.vw:VWParams"),
    ("select.features", "ltrr.select.features:FeatureParams"),
    ("ope", "ltrr.ope.estimators:OpeParams"),
    ("service", "ltrr.service.settings:ServiceParams"),
]


def _class(path: str) -> type:
    module, _, name = path.partition(":")
    cls: type = getattr(importlib.import_module(module), name)
    return cls


@pytest.mark.parametrize(("section", "path"), SECTIONS, ids=[s for s, _ in SECTIONS])
def test_section_equals_dataclass_defaults(section: str, path: str) -> None:
    cls = _class(path)
    from_toml = load_config().params(section, cls)
    assert from_toml == cls()
    assert set(load_config().section(section)) - {
        k for k, v in load_config().section(section).items() if isinstance(v, dict)
    } == {f.name for f in fields(cls)}
