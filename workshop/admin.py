from django.contrib import admin

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
    list_display = ["title_nl", "slug", "version", "created_at"]
    search_fields = ["slug", "title_nl", "title_en"]
    fields = [
        ("slug", "version"),
        ("title_nl", "title_en"),
        ("source_nl", "source_en"),
        "source_url",
    ]
    inlines = [SliderInline, ProfileInline]


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
