"""Forms for incident managers and IT operations: deescalation plans and their follow-up."""

from datetime import timedelta

from django import forms
from django.utils import timezone

from incidents.models import Incident, Stakeholder
from incidents.people import person_name
from incidents.selectors_boards import user_list_staff


def _not_blank(value: str) -> str:
    value = (value or "").strip()
    if not value:
        raise forms.ValidationError("Please fill this in.")
    return value


class _TextForm(forms.Form):
    """A form whose text fields may not be only blanks; subclasses name the fields."""

    seen_state = forms.CharField(widget=forms.HiddenInput, required=False)
    required_text: tuple[str, ...] = ()

    def clean(self):
        data = super().clean()
        for name in self.required_text:
            if name in data:
                try:
                    data[name] = _not_blank(data[name])
                except forms.ValidationError as error:
                    self.add_error(name, error)
        return data


class PlanForm(forms.Form):
    # The plan's revision the editor showed: a save by someone else in between is refused.
    # (Not required: an error on a hidden field would be one nobody can see or fix.)
    seen_revision = forms.IntegerField(widget=forms.HiddenInput, min_value=0, required=False)
    summary = forms.CharField(
        label="Summary for the initiator",
        help_text="What will be done, in words the person who reported it understands.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def clean_summary(self) -> str:
        return _not_blank(self.cleaned_data["summary"])


class DateTimeLocalInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs):
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class ActivityForm(forms.Form):
    description = forms.CharField(
        label="Activity", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )
    owner = forms.ModelChoiceField(
        label="Owner", queryset=user_list_staff(), empty_label="Choose an owner"
    )
    due_at = forms.DateTimeField(label="Due", widget=DateTimeLocalInput())

    def __init__(self, *args, staff=None, **kwargs):
        super().__init__(*args, **kwargs)
        if staff is not None:
            self.fields["owner"].queryset = staff
        self.fields["owner"].label_from_instance = person_name

    def clean_description(self) -> str:
        return _not_blank(self.cleaned_data["description"])

    def clean_due_at(self):
        due = self.cleaned_data["due_at"]
        # A little slack: the form may have been filled in over a couple of minutes.
        if due < timezone.now() - timedelta(minutes=5):
            raise forms.ValidationError("The due time is in the past.")
        # Pages show a due time without its year; a typo in the year would hide there.
        if due > timezone.now() + timedelta(days=366):
            raise forms.ValidationError("The due time is more than a year away: check the year.")
        return due


class BaseActivityFormSet(forms.BaseFormSet):
    # Django's own words ("Please submit at least 1 form.") speak of forms, not activities.
    default_error_messages = {
        "too_few_forms": "Add at least one activity: what will be done, by whom and by when.",
        "too_many_forms": "A plan holds at most %(num)d activities.",
    }

    def __init__(self, *args, staff=None, **kwargs):
        self.staff = staff
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index):
        return {**super().get_form_kwargs(index), "staff": self.staff}

    @property
    def empty_form(self):
        form = self.form(
            auto_id=self.auto_id,
            prefix=self.add_prefix("__prefix__"),
            empty_permitted=True,
            use_required_attribute=False,
            staff=self.staff,
            renderer=self.renderer,
        )
        self.add_fields(form, None)
        return form


ActivityFormSet = forms.formset_factory(
    ActivityForm,
    formset=BaseActivityFormSet,
    extra=1,
    min_num=1,
    validate_min=True,
    can_delete=True,
    max_num=30,
    validate_max=True,
)


class ReturnPlanForm(_TextForm):
    comment = forms.CharField(
        label="What should be reworked?", widget=forms.Textarea(attrs={"rows": 2})
    )
    required_text = ("comment",)


class StatusUpdateForm(_TextForm):
    message = forms.CharField(
        label="Status update for the initiator",
        help_text="Say what has been done and when the next update comes.",
        widget=forms.Textarea(attrs={"rows": 3}),
    )
    required_text = ("message",)


class ConfirmDeescalationForm(_TextForm):
    note = forms.CharField(
        label="Closing note for the initiator", widget=forms.Textarea(attrs={"rows": 2})
    )
    required_text = ("note",)


class ActivityCompleteForm(forms.Form):
    note = forms.CharField(label="What was done?", widget=forms.Textarea(attrs={"rows": 2}))

    def clean_note(self) -> str:
        return _not_blank(self.cleaned_data["note"])


# --- IT operations -------------------------------------------------------------------


class AcknowledgeForm(_TextForm):
    note = forms.CharField(label="Note (optional)", required=False)


class EscalateFurtherForm(_TextForm):
    """Whom IT operations escalate to: the configured stakeholders (e-mailed) and anyone else
    they told themselves (recorded only)."""

    stakeholders = forms.ModelMultipleChoiceField(
        label="Stakeholders to e-mail",
        help_text="E-mailed at once. Administrators keep this list (Admin → Stakeholders).",
        queryset=Stakeholder.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )
    others = forms.CharField(
        label="Others you told yourself (optional)",
        help_text="Recorded, not e-mailed: e.g. a key customer you phoned.",
        max_length=500,
        required=False,
    )
    note = forms.CharField(label="What they were told", widget=forms.Textarea(attrs={"rows": 2}))
    required_text = ("note",)

    def __init__(self, *args, stakeholders=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["stakeholders"].queryset = (
            stakeholders if stakeholders is not None else Stakeholder.objects.filter(active=True)
        )

    def clean(self):
        data = super().clean()
        data["others"] = (data.get("others") or "").strip()
        if not data.get("stakeholders") and not data["others"] and "stakeholders" in data:
            self.add_error(None, "Choose at least one stakeholder or name who you told.")
        return data


class LogActionForm(_TextForm):
    note = forms.CharField(label="Action taken", widget=forms.Textarea(attrs={"rows": 2}))
    required_text = ("note",)


class HandOverForm(_TextForm):
    note = forms.CharField(
        label="State you hand over in",
        help_text="What is stable now and what the incident managers should plan for.",
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    required_text = ("note",)


class ImpactForm(_TextForm):
    # The upper bounds keep a typo out of the database's integer column (a 500 before).
    users_affected = forms.IntegerField(
        label="Users affected", min_value=0, max_value=10_000_000, required=False
    )
    services_affected = forms.IntegerField(
        label="Services affected", min_value=0, max_value=100_000, required=False
    )
    note = forms.CharField(label="How you know (optional)", required=False, max_length=500)

    def clean(self):
        data = super().clean()
        if (
            not self.errors
            and data.get("users_affected") is None
            and data.get("services_affected") is None
        ):
            raise forms.ValidationError("Give the number of users or of services affected.")
        return data


class LinkIncidentForm(_TextForm):
    number = forms.CharField(
        label="Related incident number",
        help_text="Reported by someone else, caused by this major incident (e.g. INC0001234).",
        max_length=20,
    )
    note = forms.CharField(label="Note (optional)", required=False, max_length=500)
    required_text = ("number",)

    def clean_number(self) -> str:
        number = _not_blank(self.cleaned_data["number"]).upper()
        if not Incident.objects.filter(number=number).exists():
            raise forms.ValidationError(f"There is no incident {number}.")
        return number


# --- during implementation (incident managers) ----------------------------------------


class ActivityCancelForm(forms.Form):
    reason = forms.CharField(
        label="Why is it no longer needed?", widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_reason(self) -> str:
        return _not_blank(self.cleaned_data["reason"])


# --- the post-incident review ----------------------------------------------------------


class ReviewForm(forms.Form):
    summary = forms.CharField(
        label="What happened", widget=forms.Textarea(attrs={"rows": 3}), max_length=5000
    )
    cause = forms.CharField(
        label="Cause", widget=forms.Textarea(attrs={"rows": 2}), max_length=5000
    )

    def clean_summary(self) -> str:
        return _not_blank(self.cleaned_data["summary"])

    def clean_cause(self) -> str:
        return _not_blank(self.cleaned_data["cause"])


class FollowUpForm(ActivityForm):
    """A follow-up action: like a plan activity, but the due time may be left open."""

    description = forms.CharField(
        label="Follow-up action", widget=forms.Textarea(attrs={"rows": 2}), max_length=2000
    )
    due_at = forms.DateTimeField(
        label="Due (optional)", widget=DateTimeLocalInput(), required=False
    )

    def clean_due_at(self):
        due = self.cleaned_data["due_at"]
        return super().clean_due_at() if due else None


class BaseFollowUpFormSet(BaseActivityFormSet):
    default_error_messages = {
        "too_few_forms": "Add at least one follow-up action: what will be done and by whom.",
        "too_many_forms": "A review holds at most %(num)d follow-up actions.",
    }


FollowUpFormSet = forms.formset_factory(
    FollowUpForm,
    formset=BaseFollowUpFormSet,
    extra=1,
    min_num=1,
    validate_min=True,
    can_delete=True,
    max_num=30,
    validate_max=True,
)
