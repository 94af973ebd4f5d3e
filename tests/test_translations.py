"""Every user-facing string has a Dutch translation, and the compiled catalogue is current."""

import polib
from django.utils import translation

from tests.conftest import ROOT

PO = ROOT / "locale" / "nl" / "LC_MESSAGES" / "django.po"
MO = PO.with_suffix(".mo")


def test_every_dutch_string_is_translated_and_none_is_fuzzy():
    catalogue = polib.pofile(str(PO))
    assert not catalogue.metadata_is_fuzzy
    assert [e.msgid for e in catalogue.untranslated_entries()] == []
    assert [e.msgid for e in catalogue.fuzzy_entries()] == []


def test_the_compiled_catalogue_matches_the_source():
    source = {e.msgid: e.msgstr for e in polib.pofile(str(PO)).translated_entries()}
    compiled = {e.msgid: e.msgstr for e in polib.mofile(str(MO)) if e.msgid}
    assert compiled == source, "run `make messages` to recompile locale/nl"


def test_dutch_is_the_default_language():
    with translation.override("nl"):
        assert translation.gettext("Saved") == "Opgeslagen"
