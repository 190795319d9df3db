"""The WIT the SDK carries is the repository's contract, byte for byte."""

import re
from pathlib import Path

import etl_stage

SDK = Path(__file__).resolve().parents[1]
VENDORED = SDK / "etl_stage" / "wit" / "stage.wit"
CONTRACT = SDK.parents[1] / "wit" / "stage.wit"


def test_the_vendored_wit_is_byte_identical_to_the_contract():
    assert CONTRACT.is_file(), f"{CONTRACT} is missing: the SDK's WIT must be checked against it"
    assert VENDORED.read_bytes() == CONTRACT.read_bytes(), (
        f"{VENDORED} differs from {CONTRACT}: copy the contract over (cp wit/stage.wit "
        "plugins/sdk-python/etl_stage/wit/stage.wit) and update the SDK to the change"
    )


def test_the_contract_version_is_the_wit_file_s():
    package = re.search(r"^package etl:stage@(\S+);$", VENDORED.read_text(), re.M)
    assert package, "no `package etl:stage@...;` line"
    assert etl_stage.CONTRACT_VERSION == package.group(1)
