"""JobSpec: validation names every bad field, the union follows the registry, hashes are canonical."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from ab_core import registry
from ab_core.errors import SpecError
from ab_core.specs import JobSpec, json_schema, load_spec, parse_spec

GOOD = {
    "kind": "pretrain",
    "method": {"method": "simclr", "temperature": 0.5},
    "data": {"dataset": "image_folder", "root": "/data/classes", "resize": 64, "crop": 64},
    "schedule": {"steps": 2},
}


def test_a_good_spec_fills_defaults_and_is_frozen():
    spec = parse_spec(GOOD)
    assert spec.backbone.arch == "resnet18" and spec.optim.name == "adamw"
    with pytest.raises(ValidationError, match="frozen"):
        spec.seed = 3  # type: ignore[misc]


def test_every_bad_field_is_named_with_what_is_accepted():
    bad = {
        **GOOD,
        "method": {"method": "simclr", "temperature": -1},
        "data": {**GOOD["data"], "dataset": "imagenet22k"},
        "optim": {"lr": 0},
        "colour": "red",
    }
    with pytest.raises(SpecError) as caught:
        parse_spec(bad)
    text = str(caught.value)
    assert "method.simclr.temperature" in text
    assert "data.dataset" in text and "'image_folder'" in text and "'mvtec'" in text
    assert "optim.lr" in text
    assert "colour" in text and "Extra inputs are not permitted" in text
    assert len(caught.value.problems) == 4


def test_an_unknown_method_lists_the_registered_ones():
    with pytest.raises(SpecError) as caught:
        parse_spec({**GOOD, "method": {"method": "byol"}})
    for name in registry.entries():
        assert name in str(caught.value)


def test_kind_must_match_the_methods_role():
    with pytest.raises(SpecError, match="kind must be 'evaluate'"):
        parse_spec({**GOOD, "method": {"method": "padim"}})


def test_crop_larger_than_resize_is_refused():
    with pytest.raises(SpecError, match="crop 128 must be <= resize 64"):
        parse_spec({**GOOD, "data": {**GOOD["data"], "crop": 128}})


def test_epochs_and_steps_together_are_refused():
    with pytest.raises(SpecError, match="either epochs or steps"):
        parse_spec({**GOOD, "schedule": {"steps": 2, "epochs": 1}})


def test_spec_hash_ignores_key_order_and_follows_values():
    reordered = json.loads(json.dumps(GOOD))
    reordered = dict(reversed(list(reordered.items())))
    assert parse_spec(GOOD).spec_hash() == parse_spec(reordered).spec_hash()
    changed = {**GOOD, "seed": 1}
    assert parse_spec(GOOD).spec_hash() != parse_spec(changed).spec_hash()


def test_specs_load_from_yaml_and_json(tmp_path):
    yaml_file = tmp_path / "spec.yaml"
    yaml_file.write_text(
        "kind: pretrain\nmethod: {method: simclr}\n"
        "data: {dataset: image_folder, root: /x, resize: 64, crop: 64}\n"
    )
    json_file = tmp_path / "spec.json"
    json_file.write_text(json.dumps(GOOD))
    assert load_spec(yaml_file).method.method == "simclr"
    assert load_spec(json_file) == parse_spec(GOOD)


def test_a_missing_or_malformed_spec_file_is_named(tmp_path):
    with pytest.raises(SpecError, match="does not exist"):
        load_spec(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: [pretrain")
    with pytest.raises(SpecError, match="broken.yaml"):
        load_spec(broken)


def test_json_schema_offers_every_registered_method():
    schema = json.dumps(json_schema())
    for name in registry.entries():
        assert f'"{name}"' in schema
    assert JobSpec.model_json_schema()["properties"]["method"]["discriminator"]["propertyName"] == "method"
