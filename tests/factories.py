"""Typed factories. Incidents are reported through the real service, as users do."""

from datetime import timedelta

import factory
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from incidents.models import (
    DeescalationActivity,
    DeescalationPlan,
    Escalation,
    Incident,
    Service,
    SupportGroup,
)
from incidents.services.incidents import incident_report


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    password = factory.django.Password("pw-for-tests")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        for role in extracted or []:
            self.groups.add(Group.objects.get(name=role))


class SupportGroupFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SupportGroup
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Service desk {n}")
    level = 1


class ServiceFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Service
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"Service {n}")
    tier = Service.Tier.STANDARD


class IncidentFactory(factory.django.DjangoModelFactory):
    """Reports through `incident_report`; pass `status=` to place it in a lifecycle state."""

    class Meta:
        model = Incident

    title = factory.Faker("sentence", nb_words=5)
    description = factory.Faker("paragraph")
    initiator = factory.SubFactory(UserFactory)
    service = factory.SubFactory(ServiceFactory)
    impact = 2
    urgency = 2

    @classmethod
    def _create(cls, model_class, *args, status=None, **kwargs):
        incident = incident_report(**kwargs)
        if status and status != incident.status:
            # Placing a test incident in a state is set-up, not a process step.
            Incident.objects.filter(pk=incident.pk).update(status=status)
            incident.refresh_from_db()
        return incident


class EscalationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Escalation

    incident = factory.SubFactory(IncidentFactory, status=Incident.Status.IN_PROGRESS)
    state = Escalation.State.REQUESTED
    source = Escalation.Source.INITIATOR
    reason = "It has been broken all morning and nobody called back."


class DeescalationPlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeescalationPlan

    escalation = factory.SubFactory(EscalationFactory, state=Escalation.State.ESCALATED)
    author = factory.SubFactory(UserFactory)
    summary = "Restore the service from the standby and verify with the users."


class DeescalationActivityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = DeescalationActivity

    plan = factory.SubFactory(DeescalationPlanFactory)
    description = factory.Faker("sentence")
    owner = factory.SubFactory(UserFactory)
    due_at = factory.LazyFunction(lambda: timezone.now() + timedelta(hours=4))
