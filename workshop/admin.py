from django import forms
from django.contrib import admin
from django.db import models

from workshop import exercise_format, exercises
from workshop.models import Exercise, Profile, ProfileTarget, Session, Slider


class ExerciseTextForm(forms.ModelForm):
    """The text limits of the exercise file (workshop/exercises.py), as form errors on their fields."""

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        for column, problem in exercise_format.text_errors(cleaned).items():
            self.add_error(column, problem)
        return cleaned


class ProfileForm(ExerciseTextForm):
    """A profile added on its own page still counts toward its exercise's limit."""

    def clean(self):  # type: ignore[no-untyped-def]
        cleaned = super().clean()
        exercise = cleaned.get("exercise")
        if exercise is not None and self.instance.pk is None:
            try:
                exercise_format.check_count("profiles", exercise.profiles.count() + 1, exercise_format.MAX_PROFILES)
            except exercise_format.ExerciseFormatError as error:
                raise forms.ValidationError(str(error)) from None
        return cleaned


class LimitedInlineFormSet(forms.BaseInlineFormSet):
    """At most as many sliders or profiles as an exercise file may have."""

    limit_path = ""
    limit = 0

    def clean(self) -> None:
        super().clean()
        kept = [f for f in self.forms if f.has_changed() or f.instance.pk]
        kept = [f for f in kept if not (self.can_delete and self._should_delete_form(f))]
        try:
            exercise_format.check_count(self.limit_path, len(kept), self.limit)
        except exercise_format.ExerciseFormatError as error:
            raise forms.ValidationError(str(error)) from None


class SliderFormSet(LimitedInlineFormSet):
    limit_path, limit = "sliders", exercise_format.MAX_SLIDERS


class ProfileFormSet(LimitedInlineFormSet):
    limit_path, limit = "profiles", exercise_format.MAX_PROFILES


class SliderInline(admin.StackedInline):
    model = Slider
    form = ExerciseTextForm
    formset = SliderFormSet
    extra = 0
    fields = [
        ("key", "order"),
        ("label_nl", "label_en"),
        ("left_nl", "left_en"),
        ("right_nl", "right_en"),
        ("explanation_nl", "explanation_en"),
    ]


class ProfileInline(admin.TabularInline):
    model = Profile
    form = ExerciseTextForm
    formset = ProfileFormSet
    extra = 0
    fields = ["key", "order", "name_nl", "name_en"]
    show_change_link = True


@admin.register(Exercise)
class ExerciseAdmin(admin.ModelAdmin):
    form = ExerciseTextForm
    # Django 6's default now (a scheme-less source link becomes https://), and no deprecation warning.
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["title_nl", "slug", "version", "in_use", "created_at"]
    search_fields = ["slug", "title_nl", "title_en"]
    fields = [
        ("slug", "version"),
        ("title_nl", "title_en"),
        ("source_nl", "source_en"),
        "source_url",
    ]
    inlines = [SliderInline, ProfileInline]
    actions = ["make_new_version"]

    @admin.display(boolean=True, description="in use")
    def in_use(self, obj: Exercise) -> bool:
        return exercises.exercise_in_use(obj)

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        # A version that sessions or archives used stays as it was; edit a new version instead.
        if obj is not None and exercises.exercise_in_use(obj):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is not None and exercises.exercise_in_use(obj):
            return False
        return super().has_delete_permission(request, obj)

    @admin.action(description="Make an editable new version")
    def make_new_version(self, request, queryset):  # type: ignore[no-untyped-def]
        for exercise in queryset:
            copy = exercises.new_exercise_version(exercise=exercise)
            self.message_user(request, f"Created {copy.slug} version {copy.version}: edit that one.")


class ProfileTargetInline(admin.TabularInline):
    model = ProfileTarget
    extra = 0

    def formfield_for_foreignkey(self, db_field, request, **kwargs):  # type: ignore[no-untyped-def]
        # Offer only the sliders of the profile's own exercise.
        if db_field.name == "slider" and request.resolver_match and request.resolver_match.kwargs.get("object_id"):
            profile = Profile.objects.filter(pk=request.resolver_match.kwargs["object_id"]).first()
            if profile is not None:
                kwargs["queryset"] = Slider.objects.filter(exercise=profile.exercise)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    form = ProfileForm

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        if obj is not None and exercises.exercise_in_use(obj.exercise):
            return False
        return super().has_change_permission(request, obj)

    list_display = ["name_nl", "key", "exercise", "order"]
    list_filter = ["exercise"]
    fields = [
        "exercise",
        ("key", "order"),
        ("name_nl", "name_en"),
        ("description_nl", "description_en"),
        ("assignment_nl", "assignment_en"),
    ]
    inlines = [ProfileTargetInline]


@admin.register(Session)
class SessionAdmin(admin.ModelAdmin):
    # Participants and their positions are deliberately not browsable here.
    list_display = ["code", "title", "facilitator", "status", "created_at"]
    list_filter = ["status", "exercise"]
    search_fields = ["code", "title"]
    readonly_fields = ["code", "created_at", "closed_at"]
