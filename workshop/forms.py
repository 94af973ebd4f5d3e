from __future__ import annotations

from django import forms
from django.db.models import OuterRef, Subquery
from django.utils.translation import gettext_lazy as _

from workshop.models import CODE_ALPHABET, CODE_LENGTH, Exercise


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
        max_length=120,
        help_text=_("For example: Wijkteam Noord, 12 March"),
    )
    exercise = forms.ModelChoiceField(label=_("Exercise"), queryset=Exercise.objects.none(), empty_label=None)

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        # Only the newest version of each exercise is offered for new sessions.
        newest = Exercise.objects.filter(slug=OuterRef("slug")).order_by("-version").values("pk")[:1]
        self.fields["exercise"].queryset = Exercise.objects.filter(pk=Subquery(newest)).order_by("slug")  # type: ignore[attr-defined]

    def clean_title(self) -> str:
        title = self.cleaned_data["title"].strip()
        if not title:
            raise forms.ValidationError(_("Give the session a title."))
        return title


class RevealForm(forms.Form):
    revealed = forms.TypedChoiceField(choices=[("1", "1"), ("0", "0")], coerce=lambda v: v == "1")
