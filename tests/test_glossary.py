"""One word for each thing (docs/glossary.md): every Dutch string of the catalogue uses the glossary's word and none
of its forbidden synonyms; the English msgids follow its English column. A failure names the msgid, its msgstr,
the word found and the rule it breaks, so that a string added on another branch says what to write instead."""

import re
from dataclasses import dataclass

import polib
import pytest

from tests.conftest import ROOT

PO = ROOT / "locale" / "nl" / "LC_MESSAGES" / "django.po"
GLOSSARY = ROOT / "docs" / "glossary.md"


@dataclass(frozen=True)
class Rule:
    term: str  # the glossary's row
    forbidden: str  # a regular expression, matched case-insensitively
    use: str  # what to write instead


# Dutch (msgstr). Word boundaries throughout: "bedieningspaneel" is the word, "bediening" alone is not.
DUTCH = [
    Rule("control panel", r"\bdashboard\w*|\bbediening\b|\bbeheerpaneel|\bcontrolepaneel", "bedieningspaneel"),
    Rule("projector screen", r"\bbeamer\w*|\bpresentatiescherm", "projectiescherm (or 'het scherm')"),
    Rule(
        "lock",
        r"\bvast\b|\bvast(ge)?zet\w*|\bgeblokkeerd|\bdicht\b",
        "vergrendelen / vergrendeld (a slider, the groups, the room)",
    ),
    Rule(
        "lock / close",
        r"\bgesloten\b",
        "'vergrendeld' for a slider, the groups or the room; 'afgesloten' for the session",
    ),
    Rule("close", r"\bafgelopen\b|\bbeëindig\w*|\bafgerond\w*", "afsluiten / afgesloten (the session)"),
    Rule("place", r"\b(ge|neer)?zet(ten|te|ten)?\b|\bneergezet\b", "plaatsen / geplaatst"),
    Rule("open", r"\bvrijge(geven|ven)\b|\bontgrendel\w*", "openen / open"),
    Rule("reveal", r"\bbekend(gemaakt|maken)?\b|\bprijsgegeven\b", "onthullen / onthuld"),
    Rule("median", r"\bmediaan (zaal|groep)\b|\bgemiddelde\b", "'mediaan van de zaal' / 'mediaan van de groep'"),
    Rule("middle half", r"\binterkwartiel\w*|\biqr\b|\bmiddelste 50", "middelste helft"),
    Rule("slider", r"\bschuifregelaar\w*|\bschuifbalk\w*", "schuif"),
    Rule("pole", r"\buiterste\w*", "pool / polen (linkerpool, rechterpool)"),
    Rule("session", r"\bbijeenkomst\w*", "sessie"),
    Rule("informal 'je'", r"\bu\b|\buw\b", "je / jouw"),
]

# English (msgid).
ENGLISH = [
    Rule("control panel", r"\bdashboard\b", "control panel"),
    Rule("projector screen", r"\bbeamer\b", "projector screen (or 'the screen')"),
    Rule("place", r"\bdrag\b", "place"),
    Rule("lock", r"\bclosed? (this|the|a) slider|\bslider is closed", "lock / locked"),
    Rule("close", r"\bsession (has )?ended\b", "close / closed"),
    Rule(
        "reveal", r"\bshown?\b[^.:]*\bprofile\b|\bprofile\b[^.:]*\bshown?\b", "reveal / revealed (show is for results)"
    ),
]

# "sluiten" alone closes something on your own screen (a card); the session is "afgesloten", the rest "vergrendeld".
SLUITEN = re.compile(r"\bsluit(en)?\b", re.IGNORECASE)
NOT_FOR_SLUITEN = re.compile(r"\b(sessie|zaal|schuif|schuiven|ronde|groep\w*)\b", re.IGNORECASE)


def entries() -> list[polib.POEntry]:
    return [e for e in polib.pofile(str(PO)) if not e.obsolete and e.msgid]


def texts(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


def where(entry: polib.POEntry) -> str:
    context = f"msgctxt {entry.msgctxt!r} " if entry.msgctxt else ""
    places = ", ".join(f"{path}:{line}" for path, line in entry.occurrences[:3])
    return f"{context}msgid {entry.msgid!r} ({places})"


def breaches(entry: polib.POEntry) -> list[str]:
    found = []
    for text in texts(entry):
        for rule in DUTCH:
            for match in re.finditer(rule.forbidden, text, re.IGNORECASE):
                found.append(
                    f"{where(entry)} → msgstr {text!r}: {match.group(0)!r} is a forbidden synonym for "
                    f"'{rule.term}'; write {rule.use} (docs/glossary.md)"
                )
        if SLUITEN.search(text) and NOT_FOR_SLUITEN.search(text):
            found.append(
                f"{where(entry)} → msgstr {text!r}: 'sluiten' is only for closing a card on your own screen; "
                "a session is 'afgesloten', a slider, the groups or the room 'vergrendeld' (docs/glossary.md)"
            )
        # One thing, one word: the room is "de zaal" and a group "de groep", never the one for the other.
        msgid = entry.msgid + " " + (entry.msgid_plural or "")
        if re.search(r"\bgroep", text, re.IGNORECASE) and not re.search(r"\bgroup", msgid, re.IGNORECASE):
            found.append(
                f"{where(entry)} → msgstr {text!r}: says 'groep' where the English says no group; the whole room is "
                "'de zaal' and its answers 'de antwoorden' (docs/glossary.md: group, median)"
            )
        if re.search(r"\bzaal", text, re.IGNORECASE) and not re.search(r"\broom", msgid, re.IGNORECASE):
            found.append(
                f"{where(entry)} → msgstr {text!r}: says 'zaal' where the English says no room "
                "(docs/glossary.md: 'room' is 'zaal', a group 'groep')"
            )
    for rule in ENGLISH:
        for match in re.finditer(rule.forbidden, entry.msgid, re.IGNORECASE):
            found.append(
                f"{where(entry)}: the English {match.group(0)!r} is a forbidden synonym for '{rule.term}'; "
                f"write {rule.use} in the template and keep its Dutch translation (docs/glossary.md)"
            )
    return found


def test_every_dutch_string_uses_the_glossarys_words():
    found = [line for entry in entries() for line in breaches(entry)]
    assert found == [], "\n" + "\n".join(found)


@pytest.mark.parametrize(
    ("msgid", "msgstr", "word"),
    [
        ("Locked: the facilitator has closed this slider for now.", "Deze schuif staat even vast.", "vast"),
        ("The sliders are locked.", "De schuiven staan vast.", "vast"),
        ("Locked", "Gesloten", "gesloten"),
        ("Nobody has placed a slider yet.", "Er heeft nog niemand een schuif gezet.", "gezet"),
        ("Room median", "Mediaan zaal", "mediaan zaal"),
        ("Open the projector screen", "Beamerscherm openen", "beamerscherm"),
        ("Back to the control panel", "Terug naar de bediening", "bediening"),
        ("Keys", "Sneltoetsen voor de beamer", "beamer"),
        ("The profile is revealed:", "Het profiel is bekend:", "bekend"),
        ("Close the room", "Zaal sluiten", "sluiten"),
        ("Room median", "Mediaan van de groep", "groep"),
        ("Put it on the projector", "Zet het dashboard op de beamer", "dashboard"),
        ("Your answer", "Uw antwoord", "uw"),
        ("The profile is shown:", "Het profiel is onthuld:", "shown"),
    ],
)
def test_a_forbidden_synonym_is_named_with_its_msgid(msgid, msgstr, word):
    """The rules catch each wording the issue found, and say which msgid breaks which rule."""
    found = breaches(polib.POEntry(msgid=msgid, msgstr=msgstr, occurrences=[("templates/x.html", "1")]))
    assert found and any(repr(msgid) in line for line in found)
    assert any(word in line.lower() for line in found), found


def test_the_glossarys_right_words_pass():
    for msgid, msgstr in [
        ("Locked: the facilitator has locked this slider for now.", "Deze schuif is even vergrendeld."),
        ("Close session", "Sessie afsluiten"),
        ("Close the profile", "Profiel sluiten"),
        ("Room median", "Mediaan van de zaal"),
        ("%(placed)s of %(total)s placed", "%(placed)s van %(total)s geplaatst"),
        ("Open the projector screen", "Projectiescherm openen"),
        ("Back to the control panel", "Terug naar het bedieningspaneel"),
    ]:
        assert breaches(polib.POEntry(msgid=msgid, msgstr=msgstr)) == [], msgid


def test_the_glossary_names_every_term_in_both_languages():
    text = GLOSSARY.read_text(encoding="utf-8")
    for term, dutch in [
        ("session", "sessie"),
        ("round", "ronde"),
        ("slider", "schuif"),
        ("pole", "pool"),
        ("place", "plaatsen"),
        ("lock", "vergrendelen"),
        ("open", "openen"),
        ("close", "afsluiten"),
        ("reveal", "onthullen"),
        ("median", "mediaan"),
        ("middle half", "middelste helft"),
        ("group", "groep"),
        ("projector screen", "projectiescherm"),
        ("control panel", "bedieningspaneel"),
    ]:
        assert re.search(rf"^\| \*\*{re.escape(term)}\*\*[^|]*\| \*\*{re.escape(dutch)}\b", text, re.MULTILINE), term


def test_the_projector_writes_no_n_equals():
    """The room reads words: a count is "12 geplaatst", never "n = 12"."""
    for name in ("screen.html", "_groups_screen.html"):
        assert "n = " not in (ROOT / "templates" / "workshop" / name).read_text(encoding="utf-8"), name


@pytest.mark.slow
def test_an_existing_database_gets_the_default_exercises_new_spelling(tmp_path):
    """Migration 0002 loaded "Lange termijn opgaven" into every database made before; the next migration respells
    the default exercise's pole, forwards and back."""
    import sqlite3

    from tests.servers import base_env, manage

    path = tmp_path / "db.sqlite3"
    env = base_env(SQLITE_PATH=str(path), SECRET_KEY="glossary-" + "x" * 50)
    pole = "SELECT right_nl FROM workshop_slider WHERE key = 'horizon'"
    manage("migrate", "workshop", "0010", "--noinput", env=env)
    with sqlite3.connect(path) as db:
        db.execute("UPDATE workshop_slider SET right_nl = 'Lange termijn opgaven' WHERE key = 'horizon'")
    manage("migrate", "--noinput", env=env)
    with sqlite3.connect(path) as db:
        assert db.execute(pole).fetchall() == [("Langetermijnopgaven",)]
    manage("migrate", "workshop", "0010", "--noinput", env=env)
    with sqlite3.connect(path) as db:
        assert db.execute(pole).fetchall() == [("Lange termijn opgaven",)]
