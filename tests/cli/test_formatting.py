"""--format templates and tables behave like the docker CLI's for common uses."""

import io

import pytest

from tuidock.cli.output import print_formatted, print_table
from tuidock.errors import UsageError

ROWS = [{"Repository": "busybox", "Tag": "latest", "ID": "abc", "Labels": {"a": "1"}}]


def render(fmt: str, rows=ROWS, **kw) -> str:
    out = io.StringIO()
    print_formatted(fmt, rows, out, **kw)
    return out.getvalue()


def test_plain_template() -> None:
    assert render("{{.Repository}}:{{.Tag}}") == "busybox:latest\n"


def test_json_forms() -> None:
    assert (
        render("json") == '{"Repository":"busybox","Tag":"latest","ID":"abc","Labels":{"a":"1"}}\n'
    )
    assert render("{{json .Labels}}") == '{"a":"1"}\n'
    assert render("{{.Labels.a}}") == "1\n"


def test_table_template_with_headers() -> None:
    text = render("table {{.Repository}}\\t{{.ID}}", headers={"ID": "IMAGE ID"})
    assert text.splitlines() == ["REPOSITORY   IMAGE ID", "busybox      abc"]


def test_table_header_keeps_the_literal_text_between_fields() -> None:
    text = render("table {{.Repository}}:{{.Tag}}\\tid={{.ID}}", headers={"ID": "IMAGE ID"})
    assert text.splitlines() == ["REPOSITORY:TAG   id=IMAGE ID", "busybox:latest   id=abc"]


def test_unknown_directive_is_a_usage_error() -> None:
    with pytest.raises(UsageError):
        render("{{range .}}x{{end}}")
    with pytest.raises(UsageError):
        render("{{.Nope}}")


def test_table_columns_align() -> None:
    out = io.StringIO()
    print_table(["A", "B"], [["long value", "x"], ["y", "z"]], out)
    assert out.getvalue().splitlines() == ["A            B", "long value   x", "y            z"]


def test_go_quote_is_strconv_quote() -> None:
    from tuidock.cli.commands.container_views import go_quote

    # Outputs of Go's strconv.Quote for the same strings.
    assert go_quote('sh -c "x"') == '"sh -c \\"x\\""'
    assert go_quote("a\tb\x01\x7f\\") == '"a\\tb\\x01\\x7f\\\\"'
    assert go_quote("é😀\u200b\u00a0\U000e0001") == '"é😀\\u200b\\u00a0\\U000e0001"'
