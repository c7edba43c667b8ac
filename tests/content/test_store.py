"""The folder content store: front matter, paths, and what it refuses to serve."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from licensing_api.content.store import (
    FolderContentStore,
    InvalidContentPath,
    parse_markdown,
    validate_content_path,
)
from licensing_api.settings import BUNDLED_CONTENT_DIR


def test_front_matter_fields_become_metadata_and_the_rest_is_the_text():
    item = parse_markdown(
        "a/b",
        "---\ntitle: T: a subtitle\nauthor: A\npublished: 2025-01-02\nupdated: 2025-03-04T05:06:07Z\n"
        "summary: S\ntags: x, y ,z\nunknown: ignored\n---\n\nBody line.\n",
    )
    assert item.title == "T: a subtitle"
    assert item.author == "A"
    assert item.published == date(2025, 1, 2)
    assert item.updated == datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert item.summary == "S"
    assert item.tags == ("x", "y", "z")
    assert item.text == "Body line."
    assert item.size == len(b"Body line.")


def test_a_file_without_front_matter_is_all_text_with_a_title_from_its_name():
    item = parse_markdown("notes/plain-text", "Just text.\n---\nnot front matter\n")
    assert item.title == "Plain text"
    assert item.text.startswith("Just text.")


def test_the_bundled_articles_are_indexed_with_nested_folders():
    store = FolderContentStore(BUNDLED_CONTENT_DIR)
    assert store.get("science/tide-pools") is not None
    assert store.get("sourdough-chemistry").author == "Priya Lindqvist"
    assert len(store.list_after(None, 100, None)) == 12


@pytest.mark.parametrize(
    "path",
    [
        "../etc/passwd", "a/../../b", "..", ".", "a//b", "/etc/passwd", ".hidden", "a/.git/config",
        "a\\b", "a b", "a%2fb", "x" * 300, "/".join(["a"] * 20), "caf\u00e9", "a\x00b", "",
    ],
)
def test_hostile_or_absurd_paths_are_refused(path):
    with pytest.raises(InvalidContentPath):
        validate_content_path(path)


def test_the_md_suffix_is_optional():
    assert validate_content_path("science/tide-pools.md") == "science/tide-pools"


def test_a_symlink_leading_out_of_the_folder_is_never_served(tmp_path):
    outside = tmp_path / "secret.md"
    outside.write_text("---\ntitle: Secret\n---\nprivate")
    root = tmp_path / "content"
    root.mkdir()
    (root / "public.md").write_text("---\ntitle: Public\n---\nhello")
    (root / "leak.md").symlink_to(outside)
    store = FolderContentStore(root)
    assert store.get("public") is not None
    assert store.get("leak") is None
