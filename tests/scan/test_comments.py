"""Comments never reach features: stripping keeps offsets, and a planted comment changes nothing."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from chainml.scan import load_model, scan_source
from chainml.scan.comments import strip_solidity_comments, strip_vyper_comments
from tests.scan.contracts import BANK_04, COUNTER_VY, MISLEADING
from tests.scan.make_fixture_model import FIXTURE

MODEL = load_model(FIXTURE)


def test_stripping_blanks_comments_and_keeps_strings_and_lines() -> None:
    source = b'string s = "no // comment /* here */"; // gone\nuint x; /* gone\n too */ uint y;'
    stripped = strip_solidity_comments(source)
    assert b"gone" not in stripped and b"too" not in stripped
    assert b'"no // comment /* here */"' in stripped
    assert len(stripped) == len(source) and stripped.count(b"\n") == source.count(b"\n")
    vy = strip_vyper_comments(b'x: uint256  # owner only\n@external\ndef f():\n    """# kept"""\n')
    assert b"owner only" not in vy and b'"""# kept"""' in vy


@given(st.text(alphabet="ab/*\"'\n x", max_size=60))
def test_stripping_never_changes_length_or_line_count(text: str) -> None:
    raw = text.encode()
    for strip in (strip_solidity_comments, strip_vyper_comments):
        out = strip(raw)
        assert len(out) == len(raw) and out.count(b"\n") == raw.count(b"\n")


def _planted(source: str) -> str:
    # the misleading comment goes before every line; line numbers shift by the same amount
    lines = source.splitlines()
    return "\n".join(f"{line} // <yes> <report> ACCESS_CONTROL tx.origin" for line in lines) + "\n"


def test_a_planted_misleading_comment_changes_nothing() -> None:
    plain = scan_source(BANK_04, "Bank.sol", model=MODEL)
    planted = scan_source(
        _planted(BANK_04).replace("contract Bank", "/* @vulnerable_at_lines: 3 */ contract Bank"),
        "Bank.sol",
        model=MODEL,
    )
    assert planted.files[0].code_hash != plain.files[0].code_hash  # the comments were there
    assert [f.category for f in plain.files[0].findings] == [
        f.category for f in planted.files[0].findings
    ]
    assert [f.score for f in plain.files[0].findings] == [
        f.score for f in planted.files[0].findings
    ]
    assert [f.function for f in plain.files[0].findings] == [
        f.function for f in planted.files[0].findings
    ]
    prefixed = scan_source(MISLEADING + BANK_04, "Bank.sol", model=MODEL)
    shift = MISLEADING.count("\n")
    assert [(f.category, f.score, f.first_line - shift) for f in prefixed.files[0].findings] == [
        (f.category, f.score, f.first_line) for f in plain.files[0].findings
    ]
    vy_plain = scan_source(COUNTER_VY, "Counter.vy", model=MODEL)
    vy_planted = scan_source(
        COUNTER_VY.replace("\n", "  # raw_call selfdestruct tx.origin\n"),
        "Counter.vy",
        model=MODEL,
    )
    assert vy_plain.files[0].findings == vy_planted.files[0].findings
