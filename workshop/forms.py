from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext_lazy as _

from workshop import limits
from workshop.models import CODE_ALPHABET, CODE_LENGTH, Exercise, Group, Session, Slider


class JoinForm(forms.Form):
    code = forms.CharField(
        label=_("Session code"),
        max_length=20,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "autocapitalize": "characters",
                "spellcheck": "false",
                "inputmode": "text",
            }
        ),
    )

    def clean_code(self) -> str:
        # People type codes with spaces or dashes as they read them off a screen.
        code = "".join(ch for ch in self.cleaned_data["code"].upper() if ch not in " -")
        if len(code) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in code):
            raise forms.ValidationError(
                _("A session code has %(length)d letters and digits, like K7MPQ3.") % {"length": CODE_LENGTH}
            )
        return code


class SessionForm(forms.Form):
    title = forms.CharField(
        label=_("Title"),
        max_length=limits.TITLE_MAX_CHARS,
        help_text=_("For example: Wijkteam Noord, 12 March"),
    )
    exercise = forms.ModelChoiceField(label=_("Exercise"), queryset=Exercise.objects.none(), empty_label=None)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # Only the newest version of each exercise is offered for new sessions.
        newest = Exercise.objects.filter(slug=OuterRef("slug")).order_by("-version").values("pk")[:1]
        self.fields["exercise"].queryset = Exercise.objects.filter(pk=Subquery(newest)).order_by("slug")  # type: ignore[attr-defined]
        self.fields.update(SessionReferenceForm().fields)  # context and reference (references_service.apply)

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError(_("Give the session a title."))
        return title


BOOL_CHOICES = [("1", "1"), ("0", "0")]


def _bool(value: str) -> bool:
    return value == "1"


class ControlForm(forms.Form):
    """A facilitator control's form, bound to one session: its choices are that session's own sliders
    and groups. A choice that is not the session's is `invalid_choice` (the view answers 409)."""

    def __init__(self, *args: Any, session: Session | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session = session
        if session is None:
            return
        keys = [(key, key) for key in session.exercise.sliders.order_by("order", "pk").values_list("key", flat=True)]
        for name, field in self.fields.items():
            if name == "slider" and isinstance(field, forms.ModelChoiceField):
                field.queryset = session.exercise.sliders.all()
            elif name == "slider" and isinstance(field, forms.ChoiceField):
                field.choices = [*field.choices, *keys]
            elif name == "group" and isinstance(field, forms.ModelChoiceField):
                field.queryset = session.groups.all()


class OnOffForm(ControlForm):
    on = forms.TypedChoiceField(choices=BOOL_CHOICES, coerce=_bool)


class SliderOnOffForm(OnOffForm):
    slider = forms.ChoiceField(choices=[])


class StepForm(ControlForm):
    direction = forms.TypedChoiceField(
        choices=[("next", "next"), ("previous", "previous")], coerce=lambda v: 1 if v == "next" else -1
    )


class ResultsForm(ControlForm):
    mode = forms.ChoiceField(choices=Session.Results.choices)


class TimerForm(ControlForm):
    minutes = forms.DecimalField(
        label=_("Minutes"),
        min_value=Decimal(limits.TIMER_MIN_SECONDS) / 60,
        max_value=Decimal(limits.TIMER_MAX_SECONDS) / 60,
        decimal_places=2,
    )
    lock = forms.BooleanField(label=_("Lock the sliders when time is up"), required=False)


class CapForm(ControlForm):
    cap = forms.IntegerField(label=_("At most"), min_value=1, max_value=limits.CAP_MAX, required=False)


class ScreenForm(ControlForm):
    view = forms.ChoiceField(choices=Session.Screen.choices)
    group = forms.ModelChoiceField(queryset=Group.objects.none(), required=False)


class GroupForm(ControlForm):
    name = forms.CharField(label=_("Group name"), max_length=limits.GROUP_NAME_MAX_CHARS)


class GroupIdForm(ControlForm):
    group = forms.ModelChoiceField(queryset=Group.objects.none())


class GroupRenameForm(GroupIdForm):
    name = forms.CharField(label=_("New name"), max_length=limits.GROUP_NAME_MAX_CHARS)


class ResetForm(ControlForm):
    # A slider key, or "all" for the whole round.
    slider = forms.ChoiceField(choices=[("all", "all")])
    confirm = forms.CharField()

    def clean_confirm(self) -> str:
        if self.cleaned_data["confirm"] != "yes":
            raise forms.ValidationError(_("Confirm the reset."))
        return "yes"


class NoteForm(ControlForm):
    slider = forms.ModelChoiceField(queryset=Slider.objects.none(), to_field_name="key")
    round = forms.TypedChoiceField(choices=[("1", "1"), ("2", "2")], coerce=int)
    text = forms.CharField(max_length=limits.NOTE_MAX_CHARS, required=False, widget=forms.Textarea)


class ConfirmForm(ControlForm):
    confirm = forms.CharField(required=False)


MONTH_FORMATS = ["%Y-%m"]


class ArchiveFilterForm(forms.Form):
    """Filters of the archive list; every field optional, bad values are reported, not ignored."""

    period_from = forms.DateField(
        label=_("From month"),
        required=False,
        input_formats=MONTH_FORMATS,
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )
    period_to = forms.DateField(
        label=_("To month"),
        required=False,
        input_formats=MONTH_FORMATS,
        widget=forms.DateInput(attrs={"type": "month"}, format="%Y-%m"),
    )
    exercise = forms.CharField(label=_("Exercise"), required=False, max_length=60)
    profile = forms.CharField(label=_("Profile"), required=False, max_length=40)
    profile_round = forms.ChoiceField(
        label=_("Profile in"),
        required=False,
        choices=[("any", _("either round")), ("now", _("round 1 (now)")), ("desired", _("round 2 (desired)"))],
    )
    organisation_type = forms.ChoiceField(label=_("Type of organisation"), required=False, choices=[])
    size_class = forms.ChoiceField(label=_("Size"), required=False, choices=[])
    region = forms.ChoiceField(label=_("Region"), required=False, choices=[])

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        from workshop.organisation import OrganisationType, Region, SizeClass

        everything = [("", _("all"))]
        self.fields["organisation_type"].choices = everything + list(OrganisationType.choices)  # type: ignore[attr-defined]
        self.fields["size_class"].choices = everything + list(SizeClass.choices)  # type: ignore[attr-defined]
        self.fields["region"].choices = everything + list(Region.choices)  # type: ignore[attr-defined]


class MetadataForm(forms.Form):
    organisation_type = forms.ChoiceField(label=_("Type of organisation"), required=False, choices=[])
    size_class = forms.ChoiceField(label=_("Size"), required=False, choices=[])
    region = forms.ChoiceField(label=_("Region"), required=False, choices=[])
    context = forms.CharField(
        label=_("Context"),
        required=False,
        max_length=1000,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For example: the reason for the session. Do not name people."),
    )

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        from workshop.organisation import OrganisationType, Region, SizeClass

        unknown = [("", _("not given"))]
        self.fields["organisation_type"].choices = unknown + list(OrganisationType.choices)  # type: ignore[attr-defined]
        self.fields["size_class"].choices = unknown + list(SizeClass.choices)  # type: ignore[attr-defined]
        self.fields["region"].choices = unknown + list(Region.choices)  # type: ignore[attr-defined]


class ReferenceForm(forms.Form):
    """Research staff publish the overview's current filter as a reference (references_service.publish)."""

    name = forms.CharField(label=_("Name of the reference"), max_length=120)
    description = forms.CharField(
        label=_("Short description"), required=False, max_length=500, widget=forms.Textarea(attrs={"rows": 2})
    )


SUGGESTED = "suggested"


def reference_field(exercise: Exercise | None = None) -> forms.ChoiceField:
    """The published references a session may show: none, the best match of its context, or one by name."""
    from workshop.models import Reference

    chosen = Reference.objects.filter(withdrawn_at__isnull=True).select_related("exercise")
    if exercise is not None:
        chosen = chosen.filter(exercise=exercise)
    choices = [("", _("none")), (SUGGESTED, _("the best match for this size and kind"))]
    choices += [(str(r.pk), f"{r.name} ({r.sessions}, {r.created_at:%Y-%m-%d})") for r in chosen]
    return forms.ChoiceField(
        label=_("Compare with other sessions"),
        required=False,
        choices=choices,
        help_text=_("Shown only after the room's own reveal, when you press V."),
    )


class SessionReferenceForm(forms.Form):
    """A session's context and its reference, until the session closes."""

    organisation_type = forms.ChoiceField(label=_("Type of organisation"), required=False, choices=[])
    size_class = forms.ChoiceField(label=_("Size"), required=False, choices=[])

    def __init__(self, *args: Any, exercise: Exercise | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        from workshop.organisation import OrganisationType, SizeClass

        unknown = [("", _("not given"))]
        self.fields["organisation_type"].choices = unknown + list(OrganisationType.choices)  # type: ignore[attr-defined]
        self.fields["size_class"].choices = unknown + list(SizeClass.choices)  # type: ignore[attr-defined]
        self.fields["reference"] = reference_field(exercise)
