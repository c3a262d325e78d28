"""Every results block in README.md and docs/benchmarks.md equals what its kept output renders."""
import pytest

from mossnet.tools import results


def test_documents_match_their_outputs():
    assert results.main(["check"]) == 0


def test_an_edited_table_is_caught(tmp_path, monkeypatch):
    doc = tmp_path / "README.md"
    text = results.DOCUMENTS[0].read_text()
    assert "<!-- results:eval -->" in text
    doc.write_text(text.replace("<!-- results:eval -->\n|", "<!-- results:eval -->\n| edited"))
    monkeypatch.setattr(results, "DOCUMENTS", [doc])
    assert results.main(["check"]) == 1


def test_every_block_names_a_known_output():
    names = {m.group(2) for doc in results.DOCUMENTS for m in results.BLOCK.finditer(doc.read_text())}
    assert names, "no results blocks"
    unknown = {n for n in names if not n.startswith("bench")} - set(results.BY_NAME)
    assert not unknown


def test_collect_refuses_unknown_names():
    with pytest.raises(SystemExit):
        results.main(["collect", "no-such-table"])
