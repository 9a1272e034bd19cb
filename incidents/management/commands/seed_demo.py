"""Load a realistic demo: users for every role, services, and ~50 incidents with histories.

Every incident and every escalation is created through the services (incidents/services/*),
exactly as people would create them, so the timeline, the outbox and every field are those
of the product. Only time is faked, afterwards: each story step runs now, and then the rows
it wrote are moved back to when that step "happened" (see `_backdate`). That is plain SQL
UPDATEs on set-up data, not a process step; no clock is patched.
"""

import os
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F
from django.test.utils import override_settings
from django.utils import timezone

from escalation_portal.site_url import site_url_for
from incidents.models import (
    DeescalationActivity,
    DeescalationPlan,
    Escalation,
    FollowUpAction,
    Incident,
    OperationsLog,
    PostIncidentReview,
    PreventionAction,
    Service,
    SLAEvent,
    SLAThresholdCrossing,
    Stakeholder,
    SupportGroup,
    TimelineEntry,
)
from incidents.roles import FIRST_LEVEL_SUPPORT, INCIDENT_MANAGERS, IT_OPERATIONS
from incidents.services import deescalation as plans
from incidents.services import escalations as cases
from incidents.services import incidents as lifecycle
from incidents.services import major_incidents as majors
from incidents.services import operations as ops
from incidents.sla import sla_sync, sla_targets
from notifications.models import Notification

PASSWORD = "demo12345"
# Why initiators ask for an escalation: varied, as the check queue would see them.
ASK_REASONS = [
    "This is blocking my work and nobody has called back.",
    "Our month-end close is tomorrow and we cannot post anything.",
    "Three of us are idle until this works; the customer call is at 3 pm.",
    "It was promised for this morning and it still fails.",
    "A customer deadline depends on it; please get someone senior on it.",
]

# username, first name, last name, roles, superuser
USERS = [
    ("initiator", "Irene", "Walker", [], False),
    ("support", "Sam", "Patel", [FIRST_LEVEL_SUPPORT], False),
    ("manager", "Maria", "Lopez", [INCIDENT_MANAGERS], False),
    ("operations", "Oliver", "Grant", [IT_OPERATIONS], False),
    ("admin", "Ada", "Admin", [], True),
    ("anna.schmidt", "Anna", "Schmidt", [], False),
    ("ben.okafor", "Ben", "Okafor", [], False),
    ("chloe.martin", "Chloe", "Martin", [], False),
    ("david.kim", "David", "Kim", [], False),
    ("elena.rossi", "Elena", "Rossi", [], False),
    ("fiona.byrne", "Fiona", "Byrne", [FIRST_LEVEL_SUPPORT], False),
    ("george.nakamura", "George", "Nakamura", [INCIDENT_MANAGERS], False),
    ("hana.novak", "Hana", "Novak", [IT_OPERATIONS], False),
]
DEMO_USERNAMES = ["initiator", "support", "manager", "operations", "admin"]
LOGINS = [
    ("initiator", "reports incidents and follows them"),
    ("support", "first-level support (service desk)"),
    ("manager", "incident manager"),
    ("operations", "IT operations"),
    ("admin", "superuser: the admin"),
]

# name, level, members
GROUPS = [
    ("Service Desk", 1, ["support", "fiona.byrne"]),
    ("Application Support", 2, ["fiona.byrne"]),
    ("Infrastructure & Network", 2, ["operations"]),
    ("Platform Engineering", 3, ["operations", "hana.novak"]),
]

# Whom IT operations escalate a major incident further to: name, role (e-mail derived).
STAKEHOLDERS = [
    ("Catherine Moreau", "Chief Information Officer"),
    ("Daniel Okoye", "Head of IT Operations"),
    ("Priya Raman", "Service owner, business applications"),
]

# key, name, tier, description
SERVICES = [
    ("mail", "E-mail & Calendar", 1, "Exchange Online mailboxes, shared calendars, Outlook."),
    ("vpn", "VPN & Remote Access", 1, "GlobalProtect VPN and the remote desktop gateway."),
    ("payroll", "Payroll", 1, "Monthly payroll runs, payslips and the HR self-service portal."),
    ("erp", "ERP (SAP)", 1, "Orders, invoicing, purchasing and stock in SAP S/4HANA."),
    ("network", "Office Network & Wi-Fi", 2, "Wired and wireless network in all offices."),
    ("workplace", "Laptops & Desktops", 2, "Company laptops, docking stations, software installs."),
    ("teams", "Microsoft Teams", 2, "Chat, meetings and telephony."),
    ("print", "Printing", 3, "Office printers, scanning to e-mail, badge release."),
    ("intranet", "Intranet", 3, "The staff intranet, news and the document library."),
]

# title, description, service, impact, urgency, scenario, initiator
INCIDENTS = [
    ("Outlook asks for my password every few minutes", "Since this morning Outlook keeps "
     "popping up a login window. I type the password and it comes back ten minutes later.",
     "mail", 3, 2, "new", "initiator"),
    ("Printer on 3rd floor prints blank pages", "The big Ricoh next to the kitchen on the "
     "third floor feeds paper but nothing is printed on it.", "print", 3, 3, "new",
     "anna.schmidt"),
    ("Cannot open the shared Finance folder", "Access denied when I open \\\\files\\finance. "
     "It worked last Friday.", "workplace", 3, 2, "new", "ben.okafor"),
    ("VPN disconnects every 20 minutes from home", "GlobalProtect connects, then drops after "
     "about 20 minutes and I lose my remote desktop session.", "vpn", 2, 2, "in_progress",
     "initiator"),
    ("Laptop very slow after the last update", "Since the Windows update on Tuesday my "
     "laptop takes 10 minutes to start and Excel freezes.", "workplace", 3, 2, "in_progress",
     "chloe.martin"),
    ("Teams calls have no sound", "I can see people in Teams meetings but hear nothing; "
     "the headset works in other apps.", "teams", 3, 2, "in_progress", "david.kim"),
    ("Wi-Fi drops in meeting room Oslo", "The Wi-Fi in meeting room Oslo disconnects every "
     "few minutes, presentations keep freezing.", "network", 2, 3, "in_progress",
     "elena.rossi"),
    ("Scan to e-mail not arriving", "Scans from the 2nd floor printer never reach my "
     "inbox, not even in junk.", "print", 3, 2, "on_hold", "anna.schmidt"),
    ("New starter has no mailbox", "Our new colleague Tom Reyes started today and has no "
     "mailbox yet, so he cannot log in to anything.", "mail", 3, 1, "on_hold", "ben.okafor"),
    ("Docking station does not charge the laptop", "The laptop shows 'plugged in, not "
     "charging' on the Dell dock at desk 4.12.", "workplace", 3, 3, "on_hold", "initiator"),
    ("Intranet search returns nothing", "Searching the intranet for anything shows 'no "
     "results', even for 'holiday'.", "intranet", 3, 3, "resolved", "chloe.martin"),
    ("Calendar invites arrive twice", "Every meeting invite lands twice in my calendar.",
     "mail", 3, 3, "resolved", "david.kim"),
    ("Cannot print PDFs from the ERP", "Printing a delivery note from SAP gives 'spool "
     "error'.", "erp", 2, 2, "resolved", "elena.rossi"),
    ("Password reset link expired", "The reset link from the self-service portal says it "
     "expired, though I just requested it.", "workplace", 3, 2, "closed", "initiator"),
    ("Monitor flickers", "The second monitor flickers every few seconds.", "workplace",
     3, 3, "closed", "anna.schmidt"),
    ("Teams status stuck on 'away'", "My Teams status shows away all day even when I am "
     "working.", "teams", 3, 3, "closed", "ben.okafor"),
    ("Shared mailbox 'sales' not visible", "The sales shared mailbox disappeared from my "
     "Outlook folder list.", "mail", 3, 2, "closed", "chloe.martin"),
    ("Printer jam on 1st floor", "Paper jam on the 1st floor printer.", "print", 3, 3,
     "cancelled", "david.kim"),
    ("Duplicate: VPN slow", "Reported twice by mistake, see my other ticket.", "vpn", 3, 3,
     "cancelled", "elena.rossi"),
    # Close to the SLA warning threshold: the SLA monitor will flag these within minutes.
    ("ERP order entry times out for the Hamburg team", "Saving a sales order in SAP takes "
     "over a minute and then fails with a timeout. 12 people in Hamburg affected.", "erp",
     1, 1, "near_warning", "anna.schmidt"),
    ("Payslips in the HR portal show last month", "The HR self-service portal shows the "
     "October payslip as the latest one for everyone in my team.", "payroll", 1, 1,
     "near_warning", "ben.okafor"),
    ("Wi-Fi in the warehouse is down", "The handheld scanners in the warehouse cannot "
     "connect since the night shift.", "network", 2, 2, "near_warning", "chloe.martin"),
    ("Mail to customers bounces", "Mails to several customer domains bounce with '550 "
     "rejected by policy'.", "mail", 1, 2, "imminent", "david.kim"),
    ("Remote desktop gateway refuses logins", "rdp.example.com says 'your credentials did "
     "not work' for me and two colleagues.", "vpn", 2, 1, "imminent", "initiator"),
    ("Invoice run stuck in the ERP", "The nightly invoice run is still 'in process' since "
     "02:00; customers get no invoices.", "erp", 2, 1, "imminent_support", "elena.rossi"),
    ("Expense reports cannot be submitted", "Submitting an expense report shows a blank "
     "page.", "payroll", 2, 2, "requested", "initiator"),
    ("Laptop will not boot: BitLocker recovery", "My laptop asks for a BitLocker recovery "
     "key every time I start it and I need it for a client visit tomorrow.", "workplace",
     3, 1, "requested", "anna.schmidt"),
    ("Teams telephony: no incoming calls", "Customers say our hotline number rings out; "
     "no calls reach the Teams queue.", "teams", 2, 1, "requested", "ben.okafor"),
    ("Printer toner empty again", "Toner low on the 4th floor printer, I want this "
     "escalated.", "print", 3, 3, "rejected", "chloe.martin"),
    ("Intranet news page loads slowly", "The intranet start page takes 8 seconds to load.",
     "intranet", 3, 3, "rejected", "david.kim"),
    ("Cannot install Python on my laptop", "The software centre install of Python fails "
     "with error 0x87D00607.", "workplace", 3, 2, "rejected_again", "elena.rossi"),
    ("Shared calendar of the board is empty", "The 'Board' shared calendar shows no events "
     "for anyone.", "mail", 2, 2, "avoided", "initiator"),
    ("VPN token app shows wrong codes", "The authenticator codes for the VPN are "
     "rejected.", "vpn", 2, 2, "avoided", "anna.schmidt"),
    ("Sales reports in the ERP are empty", "The daily sales report in SAP shows zero for "
     "all regions.", "erp", 2, 2, "avoided_by_resolve", "ben.okafor"),
    ("Payroll export to the bank failed", "The payroll payment file was rejected by the "
     "bank: 'invalid format'. Salaries are due on Friday.", "payroll", 1, 2, "escalated",
     "chloe.martin"),
    ("Office network down in Lyon", "No network at all in the Lyon office, 40 people "
     "working from their phones' hotspots.", "network", 1, 2, "escalated", "david.kim"),
    ("E-mail down for the whole company", "Nobody can send or receive e-mail since 08:40. "
     "Outlook and webmail both fail.", "mail", 1, 1, "major", "initiator"),
    ("ERP unavailable in all plants", "SAP shows 'system not available' in all three "
     "plants; production orders cannot be booked.", "erp", 1, 1, "major", "elena.rossi"),
    ("Payroll run calculates wrong tax", "The test payroll run shows the old tax rates for "
     "all employees in Bavaria.", "payroll", 1, 2, "plan_submitted", "anna.schmidt"),
    ("VPN capacity exhausted on Monday mornings", "From 8:30 to 10:00 on Mondays nobody "
     "else can connect to the VPN: 'gateway full'.", "vpn", 2, 1, "plan_returned",
     "ben.okafor"),
    ("Warehouse label printers offline", "All label printers in the warehouse show "
     "offline; parcels cannot ship.", "print", 1, 1, "deescalating", "chloe.martin"),
    ("Teams meetings drop for external guests", "External guests are dropped out of "
     "Teams meetings after 5 minutes.", "teams", 1, 2, "deescalating", "david.kim"),
    ("Mailbox quota full for the support team", "The support@ mailbox is full and rejects "
     "customer mail.", "mail", 2, 1, "deescalated", "elena.rossi"),
    ("Storage outage took down the file shares", "All network drives (H:, S:, P:) were "
     "unavailable for the whole company.", "workplace", 1, 1, "major_deescalated",
     "initiator"),
    ("Order confirmations not sent from the ERP", "Customers get no order confirmation "
     "e-mails from SAP since yesterday.", "erp", 2, 2, "deescalated", "anna.schmidt"),
    ("HR portal login loops", "The HR portal sends me back to the login page after I log "
     "in.", "payroll", 2, 2, "escalation_cancelled", "ben.okafor"),
    ("Guest Wi-Fi voucher printer broken", "Reception cannot print guest Wi-Fi vouchers.",
     "network", 3, 2, "escalation_cancelled", "chloe.martin"),
    ("Outlook crashes when opening attachments", "Outlook closes itself whenever I open a "
     "PDF attachment.", "mail", 3, 2, "in_progress", "david.kim"),
    ("Mobile phone does not sync mail", "My company iPhone stopped syncing mail "
     "yesterday.", "mail", 3, 3, "resolved", "elena.rossi"),
    ("Meeting room display shows no picture", "The screen in room Lisbon shows 'no "
     "signal' with every laptop.", "workplace", 3, 2, "closed", "initiator"),
]  # fmt: skip


@dataclass
class Story:
    """One incident's history: the service calls, each at a minute after the report."""

    incident: Incident
    age_minutes: float
    windows: list[tuple[datetime, datetime, float]] = field(default_factory=list)

    def at(self, minute: float, call, **kwargs: Any) -> Any:
        start = timezone.now()
        result = call(**kwargs)
        self.windows.append((start, timezone.now(), minute))
        return result


class Command(BaseCommand):
    help = "Create demo users, services and ~50 incidents with escalations in every state."

    def add_arguments(self, parser):
        parser.add_argument(
            "--if-empty", action="store_true", help="Do nothing when the demo users exist."
        )
        parser.add_argument(
            "--force", action="store_true", help="Load even with DEBUG off (not for production)."
        )
        parser.add_argument(
            "--addrport",
            help="Where the portal will be served (as for runall), so that the demo's "
            "e-mails link there when SITE_URL is not set.",
        )

    def handle(self, *args, if_empty: bool, force: bool, addrport: str | None, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "Refusing to load demo data with DEBUG off: this looks like production. "
                "Use --force if you really mean it."
            )
        User = get_user_model()
        if User.objects.filter(username__in=DEMO_USERNAMES).exists():
            if if_empty:
                self.stdout.write("Demo data already loaded; nothing to do.")
                self._print_logins()
                return
            raise CommandError(
                "The demo users already exist. Run with --if-empty to skip, or remove "
                "var/ (make clean) to start over."
            )
        site_url = settings.SITE_URL
        if addrport and "SITE_URL" not in os.environ:
            site_url = site_url_for(addrport)
        # The demo's e-mails are rendered now, before runall starts: their links must
        # point where runall will serve.
        with override_settings(SITE_URL=site_url), transaction.atomic():
            self._load()
        self.stdout.write(
            self.style.SUCCESS(
                f"Loaded {Incident.objects.count()} incidents and "
                f"{Escalation.objects.count()} escalations."
            )
        )
        self._print_logins()

    def _print_logins(self) -> None:
        self.stdout.write(f"Demo logins (password: {PASSWORD}):")
        for username, role in LOGINS:
            self.stdout.write(f"  {username:<11} {role}")

    # --- loading ---------------------------------------------------------------------

    def _load(self) -> None:
        User = get_user_model()
        self.users: dict[str, Any] = {}
        for username, first, last, roles, superuser in USERS:
            email = f"{first}.{last}@example.com".lower()
            user = User(
                username=username,
                first_name=first,
                last_name=last,
                email=email,
                is_staff=superuser,
                is_superuser=superuser,
            )
            user.set_password(PASSWORD)
            user.save()
            user.groups.set(Group.objects.filter(name__in=roles))
            self.users[username] = user
        groups = {}
        for name, level, members in GROUPS:
            group, _ = SupportGroup.objects.get_or_create(name=name, defaults={"level": level})
            group.members.add(*(self.users[m] for m in members))
            groups[name] = group
        for position, (name, role) in enumerate(STAKEHOLDERS):
            first, last = name.lower().split()
            Stakeholder.objects.get_or_create(
                email=f"{first}.{last}@example.com",
                defaults={"name": name, "role": role, "position": position},
            )
        self.services = {}
        for key, name, tier, description in SERVICES:
            self.services[key], _ = Service.objects.get_or_create(
                name=name,
                defaults={
                    "tier": tier,
                    "description": description,
                    "default_group": groups["Service Desk"],
                },
            )
        for number, spec in enumerate(INCIDENTS):
            self._tell(number, *spec)

    def _tell(self, number, title, description, service, impact, urgency, scenario, who):
        u = self.users
        # Alternate who works the desk, so the queue is not one person's.
        desk = u["support"] if number % 2 == 0 else u["fiona.byrne"]
        manager, approver = u["manager"], u["george.nakamura"]
        ops_user = u["operations"]
        initiator = u[who]
        start = timezone.now()
        incident = lifecycle.incident_report(
            initiator=initiator,
            title=title,
            description=description,
            service=self.services[service],
            impact=impact,
            urgency=urgency,
        )
        R = sla_targets(priority=incident.priority).resolution.total_seconds() / 60
        # Default age: a third of the resolution target; scenarios below set their own.
        story = Story(incident=incident, age_minutes=R / 3)
        story.windows.append((start, timezone.now(), 0))
        inc = {"incident": incident}
        mine = {"incident": incident, "actor": initiator}

        def work(minute: float = 0.03 * R) -> None:
            story.at(minute, lifecycle.incident_start_work, **inc, actor=desk)
            story.at(
                minute + 0.05 * R,
                lifecycle.incident_add_progress_note,
                **inc,
                actor=desk,
                note="Reproduced the problem; collecting logs.",
                public=True,
            )

        def request(minute: float) -> Escalation:
            return story.at(
                minute,
                cases.escalation_request,
                **mine,
                reason=ASK_REASONS[number % len(ASK_REASONS)],
            )

        def escalated(minute: float) -> Escalation:
            case = request(minute)
            return story.at(
                minute + 0.03 * R,
                cases.escalation_escalate,
                escalation=case,
                actor=desk,
                reason="Entitled: high priority and the SLA is at risk.",
            )

        def planned(case: Escalation, minute: float) -> None:
            # The first step is done in the demo; the other two are the desk's and IT
            # operations', so whoever logs in as either finds an activity to complete.
            owners = [u["hana.novak"], desk, ops_user]
            dues = [0.15 * R, 0.3 * R, 1.0 * R]
            steps = [
                "Apply the vendor's workaround",
                "Confirm with two affected users that the workaround holds",
                "Fix the root cause with the service owner and monitor for a day",
            ]
            drafts = [
                plans.ActivityDraft(text, owner, timezone.now() + timedelta(minutes=due))
                for text, owner, due in zip(steps, owners, dues, strict=True)
            ]
            story.at(
                minute,
                plans.plan_draft,
                escalation=case,
                actor=manager,
                activities=drafts,
                summary="We restore the service with a workaround first, then fix the "
                "cause. You will hear from us at least every two hours.",
            )
            story.at(minute + 0.02 * R, plans.plan_submit, escalation=case, actor=manager)

        def deescalating(case: Escalation, minute: float, finished: int) -> None:
            planned(case, minute)
            story.at(minute + 0.05 * R, plans.plan_approve, escalation=case, actor=approver)
            activities = list(DeescalationActivity.objects.filter(plan__escalation=case))
            for offset, activity in enumerate(activities[:finished], start=1):
                story.at(
                    minute + (0.05 + 0.08 * offset) * R,
                    plans.activity_complete,
                    activity=activity,
                    actor=activity.owner,
                    note="Done and verified.",
                )
            story.at(
                minute + 0.1 * R,
                plans.status_update_post,
                **inc,
                actor=manager,
                message="The workaround is in place; we are now fixing the cause.",
            )

        def major(minute: float) -> Escalation:
            case = story.at(
                minute,
                cases.escalation_classify_major,
                **inc,
                actor=desk,
                reason="Company-wide outage of a business-critical service.",
            )
            story.at(minute + 0.02 * R, ops.major_acknowledge, escalation=case, actor=ops_user)
            story.at(
                minute + 0.05 * R,
                ops.major_escalate_further,
                escalation=case,
                actor=ops_user,
                stakeholders=list(Stakeholder.objects.order_by("position")[:2]),
                note="Outage over 30 minutes; vendor engaged.",
            )
            story.at(
                minute + 0.08 * R,
                ops.major_log_action,
                escalation=case,
                actor=ops_user,
                note="Failed over to the secondary data centre.",
            )
            return case

        def resolve(minute: float) -> None:
            story.at(
                minute,
                lifecycle.incident_resolve,
                **inc,
                actor=desk,
                note="Fixed and confirmed with the caller.",
            )

        days = 1440
        match scenario:
            case "new":
                story.age_minutes = min(0.02 * R, 20)
            case "in_progress":
                work()
                story.age_minutes = 0.3 * R
            case "near_warning":
                # Just under the first warning threshold (50 %): crosses it in 2-6 minutes.
                work()
                story.age_minutes = 0.5 * R - (2 + number % 5)
            case "on_hold":
                work()
                story.at(
                    0.2 * R,
                    lifecycle.incident_put_on_hold,
                    **inc,
                    actor=desk,
                    reason="Waiting for the caller to send a screenshot.",
                )
                story.age_minutes = 0.4 * R
            case "resolved":
                work()
                resolve(0.6 * R)
                story.age_minutes = 0.6 * R + 90
            case "closed":
                work()
                resolve(0.5 * R)
                story.at(0.5 * R + 120, lifecycle.incident_close, **mine, note="Works, thanks!")
                story.age_minutes = 3 * days + number * 60
            case "cancelled":
                story.at(15, lifecycle.incident_cancel, **mine, reason="Reported twice.")
                story.age_minutes = 2 * days
            case "imminent" | "imminent_support":
                work()
                if scenario == "imminent":  # the SLA monitor's own way of opening a case
                    case = story.at(
                        0.5 * R,
                        cases.escalation_flag_imminent,
                        **inc,
                        actor=None,
                        warning_percentage=50,
                        reason="50 % of the resolution target used.",
                    )
                else:
                    case = story.at(
                        0.4 * R,
                        cases.escalation_flag_imminent,
                        **inc,
                        actor=desk,
                        reason="Finance close is tomorrow; this will escalate.",
                    )
                story.at(
                    0.52 * R,
                    cases.escalation_record_prevention,
                    escalation=case,
                    actor=desk,
                    kind="engage_specialist",
                    note="Asked the application team to look at it now.",
                )
                story.age_minutes = 0.6 * R
            case "requested":
                work()
                request(0.4 * R)
                story.age_minutes = 0.45 * R
            case "rejected" | "rejected_again":
                work()
                case = request(0.2 * R)
                story.at(
                    0.25 * R,
                    cases.escalation_reject,
                    escalation=case,
                    actor=desk,
                    reason="Low priority and well within the SLA targets; we are on it.",
                )
                if scenario == "rejected_again":  # the earlier rejection counts next time
                    request(0.4 * R)
                story.age_minutes = 0.45 * R
            case "avoided":
                work()
                case = story.at(
                    0.5 * R,
                    cases.escalation_flag_imminent,
                    **inc,
                    actor=None,
                    warning_percentage=50,
                    reason="50 % of the resolution target used.",
                )
                story.at(
                    0.55 * R,
                    cases.escalation_record_prevention,
                    escalation=case,
                    actor=desk,
                    kind="reassign",
                    note="Reassigned to the mail specialist.",
                )
                story.at(
                    0.65 * R,
                    cases.escalation_avoid,
                    escalation=case,
                    actor=desk,
                    reason="The specialist found the cause; a fix is being applied.",
                )
                story.age_minutes = 0.7 * R
            case "avoided_by_resolve":
                work()
                request(0.3 * R)
                resolve(0.4 * R)  # resolving avoids the pending request by itself
                story.age_minutes = 0.5 * R
            case "escalated":
                work()
                escalated(0.3 * R)
                story.age_minutes = 0.45 * R
            case "major":
                work(0.02 * R)
                major(0.05 * R)
                story.age_minutes = 0.25 * R
            case "plan_submitted" | "plan_returned":
                work()
                case = escalated(0.2 * R)
                planned(case, 0.3 * R)
                if scenario == "plan_returned":
                    story.at(
                        0.4 * R,
                        plans.plan_return,
                        escalation=case,
                        actor=approver,
                        comment="Add who tells the branch offices, and when.",
                    )
                story.age_minutes = 0.45 * R
            case "deescalating":
                work()
                case = escalated(0.1 * R)
                # One activity done, the second overdue, the third still ahead.
                deescalating(case, 0.15 * R, finished=1)
                story.age_minutes = 0.6 * R
            case "deescalated" | "major_deescalated":
                work(0.02 * R)
                if scenario == "major_deescalated":
                    case = major(0.05 * R)
                    story.at(
                        0.2 * R,
                        ops.major_hand_over,
                        escalation=case,
                        actor=ops_user,
                        note="Shares are back; incident managers take it from here.",
                    )
                else:
                    case = escalated(0.1 * R)
                deescalating(case, 0.25 * R, finished=3)
                if scenario == "major_deescalated":  # a major case closes only after its review
                    story.at(
                        0.65 * R,
                        majors.post_incident_review_submit,
                        escalation=case,
                        actor=ops_user,
                        summary="The storage array's controller failed; the standby did not "
                        "take over for 50 minutes.",
                        cause="A firmware bug in the failover of the storage controllers.",
                        follow_ups=[
                            majors.FollowUpDraft(
                                "Apply the vendor's firmware fix on both arrays",
                                ops_user,
                                timezone.now() + timedelta(days=7),
                            ),
                            majors.FollowUpDraft(
                                "Test the storage failover every quarter", u["hana.novak"]
                            ),
                        ],
                    )
                story.at(
                    0.7 * R,
                    plans.deescalation_confirm,
                    escalation=case,
                    actor=manager,
                    note="Every activity is done; the service is stable again.",
                )
                resolve(0.75 * R)
                story.at(0.75 * R + 240, lifecycle.incident_close, **mine, note="")
                story.age_minutes = 4 * days + number * 30
            case "escalation_cancelled":
                work()
                case = request(0.2 * R)
                story.at(
                    0.22 * R,
                    cases.escalation_cancel,
                    escalation=case,
                    actor=desk,
                    reason="Raised on the wrong incident; the caller agreed.",
                )
                story.age_minutes = 0.35 * R
            case _:
                raise ValueError(f"Unknown demo scenario {scenario!r}")
        _backdate(story)


def _backdate(story: Story) -> None:
    """Move what each step wrote back to when the step is supposed to have happened.

    Each step ran at real time [start, end]; every timestamp a step wrote falls in its window
    and is shifted by the same amount. Due times (in the future when written) move with the
    step that computed them: the report for SLA dues, the plan draft for activity dues.
    """
    incident = story.incident
    reported = story.windows[0][0]
    # Never in the future: the last step happened at least five minutes ago.
    story.age_minutes = max(story.age_minutes, max(m for _, _, m in story.windows) + 5)
    shifts = [
        (start, end, reported - timedelta(minutes=story.age_minutes - minute) - start)
        for start, end, minute in story.windows
    ]

    def moved(value: datetime | None, *, default: timedelta | None = None) -> datetime | None:
        if value is None:
            return None
        for start, end, shift in shifts:
            if start <= value <= end:
                return value + shift
        return value + default if default is not None else value

    def update(queryset, names: list[str]) -> None:
        for row in queryset:
            values = {name: moved(getattr(row, name)) for name in names}
            type(row).objects.filter(pk=row.pk).update(**values)

    report_shift = shifts[0][2]
    update(
        Incident.objects.filter(pk=incident.pk),
        [
            "created_at",
            "responded_at",
            "on_hold_since",
            "resolved_at",
            "closed_at",
            "last_progress_at",
            "updated_at",
        ],
    )
    Incident.objects.filter(pk=incident.pk).update(
        response_due=F("response_due") + report_shift,
        resolution_due=F("resolution_due") + report_shift,
    )
    escalations = Escalation.objects.filter(incident=incident)
    update(
        escalations,
        [
            "created_at",
            "requested_at",
            "decided_at",
            "escalated_at",
            "major_at",
            "acknowledged_at",
            "deescalation_started_at",
            "ended_at",
        ],
    )
    # The timeline is append-only for the product; this is set-up data, moved once.
    update(TimelineEntry.objects.filter(incident=incident), ["created_at"])
    update(PreventionAction.objects.filter(escalation__incident=incident), ["created_at"])
    update(OperationsLog.objects.filter(escalation__incident=incident), ["created_at"])
    update(Notification.objects.filter(incident=incident), ["created_at", "sent_at"])
    # The SLA timers are replayed from their events: move the events, then let the SLA
    # engine recompute the clocks, due times and pending thresholds from them. Thresholds
    # passed in this made-up past are caught up by the SLA monitor's first run, exactly as
    # after a monitor outage; the incidents just below a threshold cross it minutes later.
    update(SLAEvent.objects.filter(incident=incident), ["at"])
    update(SLAThresholdCrossing.objects.filter(incident=incident), ["reached_at", "fired_at"])
    for review in PostIncidentReview.objects.filter(escalation__incident=incident):
        review_shift = moved(review.submitted_at) - review.submitted_at
        update(PostIncidentReview.objects.filter(pk=review.pk), ["submitted_at"])
        FollowUpAction.objects.filter(review=review, due_at__isnull=False).update(
            due_at=F("due_at") + review_shift
        )
    for plan in DeescalationPlan.objects.filter(escalation__incident=incident):
        draft_shift = moved(plan.created_at) - plan.created_at
        update(
            DeescalationPlan.objects.filter(pk=plan.pk),
            ["created_at", "submitted_at", "approved_at"],
        )
        update(plan.activities.all(), ["finished_at"])
        DeescalationActivity.objects.filter(plan=plan).update(due_at=F("due_at") + draft_shift)
    sla_sync(incident=Incident.objects.select_related("service").get(pk=incident.pk))
