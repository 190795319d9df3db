"""Typed config getters: values as written, errors that name the key, unknown keys refused."""

import datetime
from decimal import Decimal

import pytest

from etl_stage import InvalidConfig
from etl_stage.config import parse


def test_decimals_are_exact_from_strings_and_numbers():
    config = parse('{"a": "100.10", "b": 100.10, "c": 7, "d": " -0.5 "}')
    assert [config.decimal(k) for k in "abcd"] == [Decimal("100.10"), Decimal("100.10"), Decimal(7), Decimal("-0.5")]
    assert str(config.decimal("b")) == "100.10", "a JSON number keeps its digits"
    config.check_unknown()


@pytest.mark.parametrize(
    "json, read, message",
    [
        ("{}", lambda c: c.decimal("min"), 'min: required (a decimal, e.g. "100.00")'),
        ('{"min": null}', lambda c: c.decimal("min"), "min: required"),
        ('{"min": "x1"}', lambda c: c.decimal("min"), "min: expected a decimal, got 'x1'"),
        ('{"min": true}', lambda c: c.decimal("min"), "min: expected a decimal, got true"),
        ('{"min": "NaN"}', lambda c: c.decimal("min"), "min: expected a finite decimal, got NaN"),
        ('{"n": 1.5}', lambda c: c.int("n"), "n: expected an integer, got the number 1.5"),
        ('{"n": "3"}', lambda c: c.int("n"), 'n: expected an integer, got the string "3"'),
        ('{"n": 0}', lambda c: c.int("n", min=1), "n: 0 is below the minimum 1"),
        ('{"f": [1]}', lambda c: c.float("f"), "f: expected a number, got a list"),
        ('{"b": 1}', lambda c: c.bool("b"), "b: expected true or false, got the number 1"),
        ('{"s": 1}', lambda c: c.text("s"), "s: expected a string, got the number 1"),
        ('{"s": "c"}', lambda c: c.text("s", choices=["a", "b"]), "s: expected one of a, b, got 'c'"),
        ('{"d": "2024-02-30"}', lambda c: c.date("d"), "d: '2024-02-30' is not a real date"),
        ('{"d": "1/2/2024"}', lambda c: c.date("d"), 'd: expected a date written YYYY-MM-DD, got the string "1/2/2024"'),
        ('{"l": ["a", 2]}', lambda c: c.strings("l"), "l[1]: expected a string, got the number 2"),
        ('{"r": [{"max": "x"}]}', lambda c: c.sections("r")[0].int("max"), 'r[0].max: expected an integer, got the string "x"'),
        ('{"s": {"deep": {"k": 1}}}', lambda c: c.section("s").section("deep").text("k"), "s.deep.k: expected a string"),
    ],
)
def test_errors_name_the_key(json, read, message):
    with pytest.raises(InvalidConfig) as error:
        read(parse(json))
    assert str(error.value).startswith(message), str(error.value)


def test_defaults_and_typed_values():
    config = parse('{"n": 3, "f": 2, "b": false, "day": "2024-02-29", "names": ["a"], "whole": 4.0}')
    assert config.int("n") == 3 and config.int("absent", 10) == 10
    assert config.float("f") == 2.0 and isinstance(config.float("f"), float)
    assert config.bool("b") is False
    assert config.date("day") == datetime.date(2024, 2, 29)
    assert config.strings("names") == ["a"]
    assert config.int("whole") == 4
    assert config.text("absent", None) is None
    config.check_unknown()


def test_unknown_keys_are_refused_at_every_depth():
    config = parse('{"min": 1, "mni": 2}')
    config.decimal("min")
    with pytest.raises(InvalidConfig, match=r"^mni: unknown key \(this stage reads: min\)$"):
        config.check_unknown()

    config = parse('{"rules": [{"column": "a"}, {"column": "b", "colour": "red"}]}')
    for rule in config.sections("rules"):
        rule.text("column")
    with pytest.raises(InvalidConfig, match=r"^rules\[1\]\.colour: unknown key in rules\[1\] \(this stage reads: column\)$"):
        config.check_unknown()


def test_a_likely_typo_is_pointed_out():
    with pytest.raises(InvalidConfig, match=r"^min_amount: required \(a decimal, e.g. \"100.00\"\); the config has `min_amonut`\?$"):
        parse('{"min_amonut": 1}').decimal("min_amount")
    config = parse('{"min_amount": 1, "max_amonut": 2}')
    config.decimal("min_amount")
    config.decimal("max_amount", None)
    with pytest.raises(InvalidConfig, match=r"^max_amonut: unknown key \(this stage reads: max_amount, min_amount\); did you mean `max_amount`\?$"):
        config.check_unknown()


def test_an_absent_optional_section_reads_its_defaults():
    config = parse("{}")
    assert config.section("dedupe").strings("key", []) == []
    with pytest.raises(InvalidConfig, match="dedupe: required"):
        parse("{}").section("dedupe", required=True)


def test_a_stage_can_raise_its_own_key_errors():
    config = parse('{"min": 5, "max": 1}')
    assert str(config.error("max", "must be at least min (5)")) == "max: must be at least min (5)"
