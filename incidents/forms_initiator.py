"""Forms for the initiator's pages: the questions are asked in plain words, not ITIL terms."""

from django import forms

from incidents.models import Impact, Service, Urgency

# How many people are affected? -> impact; how soon does it stop your work? -> urgency.
IMPACT_CHOICES = [
    (Impact.LOW, "Just me"),
    (Impact.MEDIUM, "My team or a group of people"),
    (Impact.HIGH, "Many people, a whole site, or our customers"),
]
URGENCY_CHOICES = [
    (Urgency.LOW, "It can wait: I can work around it for now"),
    (Urgency.MEDIUM, "Soon: it slows my work down"),
    (Urgency.HIGH, "Right now: I cannot work at all"),
]


class IncidentReportForm(forms.Form):
    title = forms.CharField(
        label="What is wrong, in a few words?",
        max_length=200,
        widget=forms.TextInput(attrs={"placeholder": "e.g. Cannot send e-mail since this morning"}),
    )
    description = forms.CharField(
        label="Tell us more",
        help_text="What were you doing, what did you expect, what happened instead? "
        "Error messages help.",
        widget=forms.Textarea(attrs={"rows": 5}),
    )
    service = forms.ModelChoiceField(
        label="Which service is affected?",
        queryset=Service.objects.order_by("name"),
        empty_label="Choose a service",
    )
    impact = forms.TypedChoiceField(
        label="How many people are affected?",
        choices=IMPACT_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
    )
    urgency = forms.TypedChoiceField(
        label="How soon does it stop your work?",
        choices=URGENCY_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
    )

    def clean_title(self) -> str:
        return _not_blank(self.cleaned_data["title"])

    def clean_description(self) -> str:
        return _not_blank(self.cleaned_data["description"])


def _not_blank(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise forms.ValidationError("Please fill this in.")
    return value


class _SeenStateForm(forms.Form):
    # The state the page showed: a different state at POST time means someone else acted.
    seen_state = forms.CharField(widget=forms.HiddenInput, required=False)


class EscalationRequestForm(forms.Form):
    reason = forms.CharField(
        label="Why does this need escalating?",
        help_text="For example: the deadline it puts at risk, or how long you have waited.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_reason(self) -> str:
        return _not_blank(self.cleaned_data["reason"])


class ConfirmResolvedForm(_SeenStateForm):
    note = forms.CharField(
        label="Anything to add? (optional)",
        required=False,
        widget=forms.TextInput,
    )


class ReopenForm(_SeenStateForm):
    reason = forms.CharField(
        label="What is still wrong?",
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean_reason(self) -> str:
        return _not_blank(self.cleaned_data["reason"])


class CommentForm(forms.Form):
    comment = forms.CharField(
        label="Write to the support team",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_comment(self) -> str:
        return _not_blank(self.cleaned_data["comment"])
