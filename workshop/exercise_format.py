"""The exercise file format (see docs/exercise-format.md): validate and dump. Pure Python, no Django.

`parse_exercise` turns a decoded JSON document into an ExerciseSpec or raises
ExerciseFormatError naming the offending field; the admin applies the same
limits (`check_count`, `text_errors`). `dump_exercise` writes a stored
exercise back in the same format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from workshop.stats import MAX_VALUE, MIN_VALUE

LANGUAGES = ("nl", "en")
SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,59}$")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,39}$")
# A phone shows every slider on one screen, and a projector every profile: a dozen is plenty,
# and a file of 20,000 is refused before anything is built from it.
MAX_SLIDERS = 12
MAX_PROFILES = 12
# The longest text per field, for imports and the admin alike: what the database takes (the model's
# max_length, LONG_TEXT for a TextField) and, for what the projector shows, what a room can still read
# there: 12 sliders with names and poles this long fit 1024 x 768 without a cut (tests/test_clipping.py).
LONG_TEXT = 2000
TEXT_LIMITS = {
    "title": 200,
    "source": LONG_TEXT,
    "label": 40,
    "left": 48,
    "right": 48,
    "explanation": 300,
    "name": 80,
    "description": 600,
    "assignment": 600,
}
URL_LIMIT = 200


class ExerciseFormatError(ValueError):
    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


@dataclass(frozen=True)
class SliderSpec:
    key: str
    label: dict[str, str]
    left: dict[str, str]
    right: dict[str, str]
    explanation: dict[str, str]


@dataclass(frozen=True)
class ProfileSpec:
    key: str
    name: dict[str, str]
    description: dict[str, str]
    assignment: dict[str, str]
    target: dict[str, int]


@dataclass(frozen=True)
class ExerciseSpec:
    slug: str
    version: int
    title: dict[str, str]
    source: dict[str, str]
    source_url: str
    sliders: list[SliderSpec] = field(default_factory=list)
    profiles: list[ProfileSpec] = field(default_factory=list)


def parse_exercise(data: Any) -> ExerciseSpec:
    _require_object(data, "(top level)")
    slug = _require(data, "slug", "")
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise ExerciseFormatError("slug", "must be lowercase letters, digits and hyphens")
    version = data.get("version", 1)
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ExerciseFormatError("version", "must be a whole number of at least 1")

    scale = data.get("scale", {"min": MIN_VALUE, "max": MAX_VALUE})
    _require_object(scale, "scale")
    if scale.get("min", MIN_VALUE) != MIN_VALUE or scale.get("max", MAX_VALUE) != MAX_VALUE:
        raise ExerciseFormatError("scale", f"only the scale {MIN_VALUE}..{MAX_VALUE} is supported")

    source = data.get("source", {})
    _require_object(source, "source")
    source_url = source.get("url", "")
    if not isinstance(source_url, str) or (source_url and not source_url.startswith(("https://", "http://"))):
        raise ExerciseFormatError("source.url", "must be an http(s) URL")
    check_length("source.url", source_url, URL_LIMIT)

    sliders_data = _require(data, "sliders", "")
    if not isinstance(sliders_data, list) or not sliders_data:
        raise ExerciseFormatError("sliders", "must be a non-empty list")
    check_count("sliders", len(sliders_data), MAX_SLIDERS)
    sliders: list[SliderSpec] = []
    for i, item in enumerate(sliders_data):
        path = f"sliders[{i}]"
        _require_object(item, path)
        key = _key(item, path, {s.key for s in sliders})
        sliders.append(
            SliderSpec(
                key=key,
                label=_text(item, "label", path),
                left=_text(item, "left", path),
                right=_text(item, "right", path),
                explanation=_text(item, "explanation", path, required=False),
            )
        )

    slider_keys = [s.key for s in sliders]
    profiles_data = _require(data, "profiles", "")
    if not isinstance(profiles_data, list) or not profiles_data:
        raise ExerciseFormatError("profiles", "must be a non-empty list")
    check_count("profiles", len(profiles_data), MAX_PROFILES)
    profiles: list[ProfileSpec] = []
    for i, item in enumerate(profiles_data):
        path = f"profiles[{i}]"
        _require_object(item, path)
        key = _key(item, path, {p.key for p in profiles})
        profiles.append(
            ProfileSpec(
                key=key,
                name=_text(item, "name", path),
                description=_text(item, "description", path),
                assignment=_text(item, "assignment", path),
                target=_target(item, path, slider_keys),
            )
        )

    return ExerciseSpec(
        slug=slug,
        version=version,
        title=_text(data, "title", ""),
        source={
            lang: _limited(_string(source, lang, "source"), "source", lang) for lang in LANGUAGES if lang in source
        },
        source_url=source_url,
        sliders=sliders,
        profiles=profiles,
    )


def check_count(path: str, count: int, limit: int) -> None:
    if count > limit:
        raise ExerciseFormatError(path, f"at most {limit}, got {count}")


def check_length(path: str, value: str, limit: int) -> None:
    if len(value) > limit:
        raise ExerciseFormatError(path, f"at most {limit} characters")


def text_errors(fields: dict[str, Any]) -> dict[str, str]:
    """For a form over model columns (label_nl, name_en, …): each too-long text's column and problem."""
    errors = {}
    for name, limit in TEXT_LIMITS.items():
        for lang in LANGUAGES:
            column = f"{name}_{lang}"
            value = fields.get(column)
            try:
                if isinstance(value, str):
                    check_length(column, value, limit)
            except ExerciseFormatError as error:
                errors[column] = error.problem
    return errors


def _limited(value: str, name: str, lang: str, path: str = "") -> str:
    check_length(f"{_join(path, name)}.{lang}", value, TEXT_LIMITS[name])
    return value


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _require(obj: dict, name: str, path: str) -> Any:
    if name not in obj:
        raise ExerciseFormatError(_join(path, name), "is missing")
    return obj[name]


def _require_object(value: Any, path: str) -> None:
    if not isinstance(value, dict):
        raise ExerciseFormatError(path, "must be an object")


def _string(obj: dict, name: str, path: str) -> str:
    value = obj[name]
    if not isinstance(value, str) or not value.strip():
        raise ExerciseFormatError(_join(path, name), "must be a non-empty text")
    return value.strip()


def _text(obj: dict, name: str, path: str, *, required: bool = True) -> dict[str, str]:
    if name not in obj and not required:
        return {lang: "" for lang in LANGUAGES}
    value = _require(obj, name, path)
    here = _join(path, name)
    _require_object(value, here)
    for lang in LANGUAGES:
        _require(value, lang, here)
    return {lang: _limited(_string(value, lang, here), name, lang, path) for lang in LANGUAGES}


def _key(obj: dict, path: str, seen: set[str]) -> str:
    key = _require(obj, "key", path)
    if not isinstance(key, str) or not KEY_RE.match(key):
        raise ExerciseFormatError(f"{path}.key", "must be lowercase letters, digits, - and _ (at most 40)")
    if key in seen:
        raise ExerciseFormatError(f"{path}.key", f"duplicate key {key!r}")
    return key


def _target(obj: dict, path: str, slider_keys: list[str]) -> dict[str, int]:
    target = _require(obj, "target", path)
    here = f"{path}.target"
    _require_object(target, here)
    for key in target:
        if key not in slider_keys:
            raise ExerciseFormatError(f"{here}.{key}", "is not a slider of this exercise")
    result = {}
    for key in slider_keys:
        if key not in target:
            raise ExerciseFormatError(
                f"{here}.{key}",
                f"is missing: every profile needs a target for slider {key!r}",
            )
        value = target[key]
        if not isinstance(value, int) or isinstance(value, bool) or not MIN_VALUE <= value <= MAX_VALUE:
            raise ExerciseFormatError(
                f"{here}.{key}",
                f"{value!r} is out of range: a target is a whole number {MIN_VALUE}..{MAX_VALUE}",
            )
        result[key] = value
    return result


def columns(name: str, text: dict[str, str]) -> dict[str, str]:
    """The model columns of one translated text: name_nl, name_en."""
    return {f"{name}_{lang}": text[lang] for lang in LANGUAGES}


def dump_exercise(exercise: Any) -> dict[str, Any]:
    """The exercise as the JSON document `parse_exercise` reads."""

    def text(obj: Any, name: str) -> dict[str, str]:
        return {lang: getattr(obj, f"{name}_{lang}") for lang in LANGUAGES}

    sliders = list(exercise.sliders.order_by("order", "pk"))
    source = {lang: value for lang, value in text(exercise, "source").items() if value}
    if exercise.source_url:
        source["url"] = exercise.source_url
    document: dict[str, Any] = {
        "slug": exercise.slug,
        "version": exercise.version,
        "title": text(exercise, "title"),
        "source": source,
        "scale": {
            "min": MIN_VALUE,
            "max": MAX_VALUE,
            "default": (MIN_VALUE + MAX_VALUE) // 2,
        },
        "sliders": [],
        "profiles": [],
    }
    for s in sliders:
        entry = {
            "key": s.key,
            "label": text(s, "label"),
            "left": text(s, "left"),
            "right": text(s, "right"),
        }
        if s.explanation_nl or s.explanation_en:
            entry["explanation"] = text(s, "explanation")
        document["sliders"].append(entry)
    for p in exercise.profiles.order_by("order", "pk").prefetch_related("targets__slider"):
        targets = {t.slider.key: t.value for t in p.targets.all()}
        document["profiles"].append(
            {
                "key": p.key,
                "name": text(p, "name"),
                "description": text(p, "description"),
                "assignment": text(p, "assignment"),
                "target": {s.key: targets[s.key] for s in sliders if s.key in targets},
            }
        )
    return document
