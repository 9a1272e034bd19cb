from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms

from .events import CATALOGUE, Audience, Event


def _events_for(user) -> list[Event]:
    """The kinds of event this person can receive: staff see staff alerts too."""
    from incidents.roles import is_staff_member

    staff = is_staff_member(user)
    return [
        event for event, spec in CATALOGUE.items() if staff or Audience.INITIATOR in spec.audiences
    ]


class NotificationPreferenceForm(forms.Form):
    email_events = forms.MultipleChoiceField(
        label="Send me an e-mail when",
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=(
            "You always see every notification here in the portal. Alerts about P1 and major "
            "incidents reach support staff by e-mail even when switched off."
        ),
    )

    def __init__(self, *args, user, muted: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        events = _events_for(user)
        self.fields["email_events"].choices = [(str(e), CATALOGUE[e].description) for e in events]
        self.fields["email_events"].initial = [str(e) for e in events if str(e) not in muted]
        self.helper = FormHelper()
        self.helper.add_input(Submit("save", "Save preferences"))

    def muted_events(self) -> list[str]:
        chosen = set(self.cleaned_data["email_events"])
        return [value for value, _ in self.fields["email_events"].choices if value not in chosen]
