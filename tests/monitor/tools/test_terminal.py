"""Text from outside reaches the terminal escaped: in the tables of every command and in dead letters."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from monitor.tools.cli_support import Format, print_rows
from monitor.tools.terminal import terminal_text


@given(st.text())
def test_what_is_printed_holds_no_unprintable_character(text: str) -> None:
    assert terminal_text(text).isprintable()
    assert terminal_text(text, limit=5).isprintable()


@given(
    st.text(
        alphabet=st.characters(
            blacklist_categories=("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs")
        )
    )
)
def test_printable_text_is_shown_as_it_is(text: str) -> None:
    assert terminal_text(text) == text


def test_escapes_are_the_ones_of_a_python_string_literal_and_the_cap_counts_what_is_left() -> None:
    assert terminal_text("a\x1b[2Jb\r\n\u202ec\u2028") == "a\\x1b[2Jb\\r\\n\\u202ec\\u2028"
    assert terminal_text("\x1b" * 50, limit=3) == "\\x1b\\x1b\\x1b… (47 more characters)"
    assert terminal_text("abc", limit=3) == "abc"


def test_table_cells_are_plain_text_with_escape_sequences_escaped(capsys) -> None:
    print_rows(
        ["name", "count"],
        [["[bold]m[/bold]", 1.0], ["[/x]", 2.0], ["\x1b[31mred", 3.0]],
        Format.table,
    )
    out = capsys.readouterr().out
    assert "[bold]m[/bold]" in out and "[/x]" in out  # not read as markup
    assert "\\x1b[31mred" in out and "\x1b" not in out


def test_a_wide_table_keeps_names_times_and_numbers_whole_and_folds_only_long_text(
    capsys,
) -> None:
    """A drift table (15 columns) is wider than 200 characters: a model's name or a window's time
    split over two lines could not be read back or grepped; the long free text folds instead."""
    columns = [f"column_{j}" for j in range(13)] + ["model", "detail"]
    detail = "still open: scored once events pass the window end and the allowed lateness " * 2
    row = [f"2026-11-28 04:12:{j:02d}" for j in range(13)] + ["support-assistant", detail]
    print_rows(columns, [row, [*row[:-1], ""]], Format.table)
    lines = capsys.readouterr().out.splitlines()
    # the header, the first row over more than one line, the second row, the count
    assert len(lines) > 4
    for value in row[:-1]:
        assert value in lines[1] and value in lines[-2]
    assert "still open" in lines[1] and "lateness" in lines[2]
    assert lines[-1] == "(2 rows)"
