from django.contrib import admin

from workshop import exercises
from workshop.models import Exercise, Profile, ProfileTarget, Session, Slider


class SliderInline(admin.StackedInline):
    model = Slider
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
    extra = 0
    fields = ["key", "order", "name_nl", "name_en"]
    show_change_link = True


@admin.register(Exercise)
class ExerciseAdmin(admin.ModelAdmin):
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
