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


def test_a_file_with_20000_sliders_is_refused_at_once_with_a_clear_error(tmp_path):
    import time

    data = document()
    data["sliders"] = [copy.deepcopy(data["sliders"][0]) | {"key": f"s{i}"} for i in range(20_000)]
    before = snapshot()
    started = time.perf_counter()
    with pytest.raises(CommandError) as error:
        import_file(tmp_path, data)
    assert "sliders: at most 12, got 20000" in str(error.value)
    assert time.perf_counter() - started < 5
    assert snapshot() == before


def test_a_file_with_13_profiles_is_refused(tmp_path):
    data = document()
    data["profiles"] = [copy.deepcopy(data["profiles"][0]) | {"key": f"p{i}"} for i in range(13)]
    with pytest.raises(CommandError, match=r"profiles: at most 12, got 13"):
        import_file(tmp_path, data)


@pytest.mark.parametrize(
    ("field", "length", "message"),
    [
        (("sliders", 3, "label", "nl"), 41, "sliders[3].label.nl: at most 40 characters"),
        (("sliders", 0, "right", "en"), 49, "sliders[0].right.en: at most 48 characters"),
        (("sliders", 1, "explanation", "en"), 301, "sliders[1].explanation.en: at most 300 characters"),
        (("profiles", 2, "name", "nl"), 81, "profiles[2].name.nl: at most 80 characters"),
        (("profiles", 0, "description", "nl"), 601, "profiles[0].description.nl: at most 600 characters"),
        (("profiles", 1, "assignment", "en"), 601, "profiles[1].assignment.en: at most 600 characters"),
        (("title", "en"), 201, "title.en: at most 200 characters"),
        (("source", "nl"), 2001, "source.nl: at most 2000 characters"),
    ],
)
def test_a_text_longer_than_its_column_is_refused_naming_the_field(tmp_path, field, length, message):
    data = document()
    target = data
    for step in field[:-1]:
        target = target.setdefault(step, {}) if isinstance(step, str) else target[step]
    target[field[-1]] = "x" * length
    before = snapshot()
    with pytest.raises(CommandError) as error:
        import_file(tmp_path, data)
    assert message in str(error.value)
    assert snapshot() == before


def test_texts_exactly_at_their_limit_are_accepted(tmp_path):
    data = document()
    data["slug"] = "op-de-grens"
    data["sliders"][3]["label"]["nl"] = "x" * 40
    data["profiles"][0]["assignment"]["en"] = "y" * 600
    import_file(tmp_path, data)
    assert export("op-de-grens") == data


def admin_client(user):
    from django.test import Client

    client = Client()
    client.force_login(user)
    return client


def slider_admin_form(exercise: Exercise, **changes) -> dict:
    """The exercise's admin change form as the browser posts it, with changed slider fields."""
    sliders = list(exercise.sliders.order_by("order", "pk"))
    profiles = list(exercise.profiles.order_by("order", "pk"))
    data = {
        "slug": exercise.slug,
        "version": exercise.version,
        "title_nl": exercise.title_nl,
        "title_en": exercise.title_en,
        "source_nl": exercise.source_nl,
        "source_en": exercise.source_en,
        "source_url": exercise.source_url,
        "sliders-TOTAL_FORMS": len(sliders),
        "sliders-INITIAL_FORMS": len(sliders),
        "profiles-TOTAL_FORMS": len(profiles),
        "profiles-INITIAL_FORMS": len(profiles),
    }
    for i, s in enumerate(sliders):
        for name in ["id", "key", "order", "label_nl", "label_en", "left_nl", "left_en", "right_nl", "right_en"]:
            data[f"sliders-{i}-{name}"] = getattr(s, name)
        data[f"sliders-{i}-exercise"] = exercise.pk
        data[f"sliders-{i}-explanation_nl"] = s.explanation_nl
        data[f"sliders-{i}-explanation_en"] = s.explanation_en
    for i, p in enumerate(profiles):
        for name in ["id", "key", "order", "name_nl", "name_en"]:
            data[f"profiles-{i}-{name}"] = getattr(p, name)
        data[f"profiles-{i}-exercise"] = exercise.pk
    data.update(changes)
    return data


def slider_errors(response) -> list[dict]:
    formset = next(f.formset for f in response.context["inline_admin_formsets"] if f.formset.prefix == "sliders")
    return formset.errors


def test_the_admin_refuses_a_121_character_label_with_a_form_error(admin_user_persona):
    exercise = Exercise.objects.get(slug="wijkgericht-werken")
    url = f"/admin/workshop/exercise/{exercise.pk}/change/"
    response = admin_client(admin_user_persona).post(
        url, slider_admin_form(exercise, **{"sliders-3-label_nl": "x" * 121})
    )
    assert response.status_code == 200  # the form again, with its error; no DataError, no 500
    assert "label_nl" in slider_errors(response)[3]
    assert len(exercise.sliders.order_by("order")[3].label_nl) < 121


def test_the_admin_refuses_an_explanation_over_300_characters(admin_user_persona):
    exercise = Exercise.objects.get(slug="wijkgericht-werken")
    url = f"/admin/workshop/exercise/{exercise.pk}/change/"
    form = slider_admin_form(exercise, **{"sliders-1-explanation_en": "x" * 301})
    response = admin_client(admin_user_persona).post(url, form)
    assert response.status_code == 200
    assert slider_errors(response)[1]["explanation_en"] == ["at most 300 characters"]
    assert not any(len(s.explanation_en) > 300 for s in exercise.sliders.all())


def test_the_admin_refuses_a_13th_slider(admin_user_persona):
    exercise = Exercise.objects.get(slug="wijkgericht-werken")
    form = slider_admin_form(exercise)
    for i in range(5, 13):
        form.update(
            {
                f"sliders-{i}-key": f"extra{i}",
                f"sliders-{i}-order": i,
                f"sliders-{i}-exercise": exercise.pk,
                **{f"sliders-{i}-{n}_{lang}": f"{n} {i}" for n in ["label", "left", "right"] for lang in ["nl", "en"]},
            }
        )
    form["sliders-TOTAL_FORMS"] = 13
    response = admin_client(admin_user_persona).post(f"/admin/workshop/exercise/{exercise.pk}/change/", form)
    assert response.status_code == 200
    assert "sliders: at most 12, got 13" in response.content.decode()
    assert exercise.sliders.count() == 5


def test_the_admin_refuses_a_13th_profile_added_on_its_own_page(admin_user_persona):
    from workshop.exercise_format import MAX_PROFILES

    exercise = Exercise.objects.get(slug="wijkgericht-werken")
    for i in range(exercise.profiles.count(), MAX_PROFILES):
        Profile.objects.create(exercise=exercise, key=f"extra{i}", name_nl="x", name_en="x", order=i)
    form = {
        "exercise": exercise.pk,
        "key": "dertien",
        "order": 13,
        **{f"{n}_{lang}": f"{n}" for n in ["name", "description", "assignment"] for lang in ["nl", "en"]},
        "targets-TOTAL_FORMS": 0,
        "targets-INITIAL_FORMS": 0,
    }
    response = admin_client(admin_user_persona).post("/admin/workshop/profile/add/", form)
    assert response.status_code == 200
    assert "profiles: at most 12, got 13" in response.content.decode()
    assert exercise.profiles.count() == MAX_PROFILES
