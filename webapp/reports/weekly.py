"""The weekly usage email: each enabled UsageSchedule's team gets the usage
report of the last seven whole days (UTC) mailed to its chosen members, as an
HTML body with the PDF and XLSX attached."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.utils import timezone

from webapp.accounts.permissions import Action, can, membership_for
from webapp.monitoring.filters import TimeRange
from webapp.reports import usage
from webapp.reports.models import UsageSchedule
from webapp.reports.redact import team_secrets
from webapp.reports.runreport import to_pdf

log = logging.getLogger(__name__)


def last_week(now: datetime) -> TimeRange:
    """The seven whole days (UTC) before today's midnight."""
    end = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return TimeRange(end - timedelta(days=7), end, "")


def send_one(schedule: UsageSchedule, now: datetime) -> int:
    """Email the schedule's team report to those recipients who may still see
    costs and export reports in the team. Returns 1 if sent, else 0."""
    team = schedule.team
    recipients = [
        user
        for user in schedule.recipients.all()
        if user.email
        and can(membership_for(user, team), Action.VIEW_COSTS)
        and can(membership_for(user, team), Action.EXPORT_REPORTS)
    ]
    if not recipients:
        return 0
    time_range = last_week(now)
    # Every recipient may see the team's costs, so one build serves them all.
    figures = usage.build_usage(recipients[0], team, time_range)
    secrets = team_secrets(team.pk)
    html = usage.to_html(figures, secrets)
    stamp = f"{time_range.start:%Y-%m-%d} to {time_range.end:%Y-%m-%d}"
    message = EmailMultiAlternatives(
        subject=f"Quorum weekly usage — {team.name} — {stamp}",
        body=(
            f"Usage of {team.name} from {stamp} (UTC): {figures.summary['runs']} runs, "
            f"{figures.summary['cost_usd']:.6f} USD, {figures.summary['tokens_in']} tokens in, "
            f"{figures.summary['tokens_out']} tokens out. The full report is attached."
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email for user in recipients],
    )
    message.attach_alternative(html, "text/html")
    slug = f"usage-{team.slug}-{time_range.start:%Y%m%d}"
    message.attach(f"{slug}.pdf", to_pdf(html), "application/pdf")
    message.attach(f"{slug}.xlsx", usage.to_xlsx(figures, secrets), usage.FORMATS["xlsx"][0])
    message.send()
    UsageSchedule.objects.filter(pk=schedule.pk).update(last_sent_at=now)
    return 1


def send_all(now: datetime | None = None) -> int:
    """Send every enabled schedule's email; one failing team does not stop the
    others. Returns how many emails went out."""
    now = now or timezone.now()
    sent = 0
    for schedule in UsageSchedule.objects.filter(enabled=True).select_related("team"):
        try:
            sent += send_one(schedule, now)
        except Exception:
            log.exception("weekly usage report of team %s failed", schedule.team_id)
    return sent
