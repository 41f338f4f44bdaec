"""Every message the pages can show has its Chinese translation: extracted from the templates
and the Python exactly as `make messages` extracts them, and looked up in the catalogue the
service reads."""

from __future__ import annotations

from pathlib import Path

from babel.messages.extract import extract_from_dir

from service.pages import i18n, labels

ROOT = Path(__file__).resolve().parents[2]


def _extracted() -> set[str]:
    method_map = [("service/pages/**.py", "python"), ("service/pages/templates/**.html", "jinja2")]
    found = extract_from_dir(str(ROOT), method_map=method_map, keywords={"_": None, "N_": None})
    return {str(msg) for _file, _line, msg, _comments, _ctx in found if msg}


def test_every_message_has_a_chinese_translation() -> None:
    messages = _extracted()
    assert len(messages) > 300  # the pages say a lot: an empty extraction is a broken one
    zh = i18n.catalogue("zh")
    missing = sorted(m for m in messages if not zh.get(m))
    assert missing == [], f"untranslated (run make messages, then translate): {missing}"


def test_every_label_is_extracted() -> None:
    """A label built at run time (not through N_) would escape extraction and show English."""
    messages = _extracted()
    for kind, table in labels.KINDS.items():
        for code, text in table.items():
            assert text in messages, (kind, code)


def test_english_is_the_source_and_chinese_differs() -> None:
    zh = i18n.gettext("zh")
    assert i18n.gettext("en")("Overview") == "Overview"
    assert zh("Overview") != "Overview"
    assert zh("Critical") == "红色（严重）"


def test_every_indicator_and_knob_is_named_on_the_pages() -> None:
    """The rules page and an institution's file name each indicator and knob in words (then
    in Chinese), never by its code."""
    from service.policy import knobs

    assert set(knobs.MODELS) <= set(labels.INDICATORS) and set(knobs.MODELS) <= set(labels.MEASURES)
    named = {k for model in knobs.MODELS.values() for k in model.model_fields}
    assert named - set(labels.KNOBS) == set()
