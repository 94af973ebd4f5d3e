import copy
import io
import json

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import DEFAULT_EXERCISE
from workshop.models import Exercise, Profile, ProfileTarget, Slider

pytestmark = pytest.mark.django_db


def document() -> dict:
    return json.loads(DEFAULT_EXERCISE.read_text())


def import_file(tmp_path, data) -> str:
    path = tmp_path / "exercise.json"
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    out = io.StringIO()
    call_command("import_exercise", str(path), stdout=out)
    return out.getvalue()


def export(slug: str = "wijkgericht-werken") -> dict:
    out = io.StringIO()
    call_command("export_exercise", slug, stdout=out)
    return json.loads(out.getvalue())


def test_the_migration_loads_the_default_exercise_exactly():
    assert export() == document()


def test_import_then_export_round_trips(tmp_path):
    data = document()
    data["slug"] = "tweede"
    data["sliders"][0]["label"]["en"] = "Control"
    assert "Imported tweede version 1" in import_file(tmp_path, data)
    assert export("tweede") == data


def test_importing_again_updates_in_place(tmp_path):
    data = document()
    data["profiles"][0]["target"]["sturing"] = 11
    import_file(tmp_path, data)
    assert Exercise.objects.filter(slug="wijkgericht-werken").count() == 1
    assert export() == data


def snapshot() -> tuple:
    return (
        list(Exercise.objects.values()),
        list(Slider.objects.values()),
        list(Profile.objects.values()),
        list(ProfileTarget.objects.values()),
    )


def break_missing_pole(d):
    del d["sliders"][1]["left"]


def break_missing_pole_language(d):
    del d["sliders"][1]["right"]["en"]


def break_target_range(d):
    d["profiles"][2]["target"]["regie"] = 120


def break_target_missing(d):
    del d["profiles"][3]["target"]["horizon"]


def break_duplicate_slider(d):
    d["sliders"][4]["key"] = "regie"


def break_duplicate_profile(d):
    d["profiles"][1]["key"] = "beheer"


def break_unknown_target(d):
    d["profiles"][0]["target"]["onbekend"] = 5


def break_target_type(d):
    d["profiles"][0]["target"]["sturing"] = "25"


def break_no_sliders(d):
    d["sliders"] = []


def break_scale(d):
    d["scale"]["max"] = 10


@pytest.mark.parametrize(
    ("breaker", "message"),
    [
        (break_missing_pole, "sliders[1].left: is missing"),
        (break_missing_pole_language, "sliders[1].right.en: is missing"),
        (break_target_range, "profiles[2].target.regie: 120 is out of range"),
        (break_target_missing, "profiles[3].target.horizon: is missing"),
        (break_duplicate_slider, "sliders[4].key: duplicate key 'regie'"),
        (break_duplicate_profile, "profiles[1].key: duplicate key 'beheer'"),
        (break_unknown_target, "profiles[0].target.onbekend: is not a slider"),
        (break_target_type, "profiles[0].target.sturing: '25' is out of range"),
        (break_no_sliders, "sliders: must be a non-empty list"),
        (break_scale, "scale: only the scale 0..100"),
    ],
)
def test_it_refuses_a_bad_file_naming_the_field_and_writes_nothing(tmp_path, breaker, message):
    data = copy.deepcopy(document())
    data["profiles"][0]["name"]["nl"] = "Gewijzigd, maar het bestand is fout"
    breaker(data)
    before = snapshot()
    with pytest.raises(CommandError) as error:
        import_file(tmp_path, data)
    assert message in str(error.value)
    assert snapshot() == before


def test_it_refuses_a_file_that_is_not_json(tmp_path):
    with pytest.raises(CommandError, match="is not valid JSON"):
        import_file(tmp_path, "{ not json")


def test_it_refuses_a_missing_file(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_exercise", str(tmp_path / "missing.json"))


def test_export_of_an_unknown_exercise_is_an_error():
    with pytest.raises(CommandError, match="no exercise 'nope'"):
        call_command("export_exercise", "nope")


def test_a_changed_file_for_an_exercise_in_use_becomes_a_new_version(tmp_path, workshop_session):
    data = document()
    data["sliders"].pop()
    for profile in data["profiles"]:
        profile["target"].pop("horizon")
    assert "Imported wijkgericht-werken version 2" in import_file(tmp_path, data)
    used = workshop_session.exercise
    used.refresh_from_db()
    assert used.version == 1 and used.sliders.count() == 5
    assert export()["version"] == 2 and len(export()["sliders"]) == 4


def test_an_unchanged_file_for_an_exercise_in_use_changes_nothing(tmp_path, workshop_session):
    assert "version 1" in import_file(tmp_path, document())
    assert Exercise.objects.filter(slug="wijkgericht-werken").count() == 1


def test_an_exercise_in_use_is_read_only_in_the_admin(admin_user_persona, workshop_session):
    from django.test import Client

    client = Client()
    client.force_login(admin_user_persona)
    exercise = workshop_session.exercise
    url = f"/admin/workshop/exercise/{exercise.pk}/change/"
    response = client.post(url, {"slug": "x", "version": 1, "title_nl": "Anders", "title_en": "Other"})
    exercise.refresh_from_db()
    assert exercise.title_nl != "Anders"
    assert client.get(url).status_code == 200  # viewable, not editable
    client.post(
        "/admin/workshop/exercise/",
        {"action": "make_new_version", "_selected_action": [exercise.pk], "index": 0, "select_across": 0},
    )
    assert list(Exercise.objects.filter(slug=exercise.slug).values_list("version", flat=True)) == [2, 1]
    assert response.status_code in (302, 403, 200)
