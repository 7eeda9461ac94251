"""Export views: run reports, usage reports, the dashboard PDF, export jobs,
workflow export/import and the weekly usage email's recipients.

Objects come through webapp.accounts.permissions: another team's run, job or
workflow is a 404, a role too low a 403. A bad parameter is a 400 naming it."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from webapp.accounts.models import Membership, Team
from webapp.accounts.permissions import Action, can, get_for, require
from webapp.monitoring.filters import PRESETS, FilterError, TimeRange, parse_range
from webapp.reports import jobs, runreport, usage, workflowio
from webapp.reports.models import ExportJob, JobStatus, UsageSchedule
from webapp.runs.models import Run
from webapp.workflows.models import Workflow

WORKFLOW_FORMATS = {"json": "application/json", "yaml": "application/yaml; charset=utf-8"}
INLINE = {"html"}  # shown in the browser (printable); the rest download
# A report page is self-contained: its own inline CSS and SVG, no script, nothing
# fetched (the site-wide policy would refuse its inline <style>).
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


def _team(request: HttpRequest) -> Team:
    team = getattr(request, "team", None)
    if team is None:
        raise Http404("You are not in a team.")
    return team


def _file(export: jobs.Export, fmt: str) -> HttpResponse:
    response = HttpResponse(export.content, content_type=export.content_type)
    disposition = "inline" if fmt in INLINE else "attachment"
    response["Content-Disposition"] = f'{disposition}; filename="{export.filename}"'
    if fmt == "html":
        response["Content-Security-Policy"] = REPORT_CSP
    return response


def _bad(message: str) -> HttpResponse:
    return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")


@require_GET
@login_required
def run_report(request: HttpRequest, run_id: int, fmt: str) -> HttpResponse:
    """The run report as html, pdf, json or csv (EXPORT_REPORTS). Runs over
    SMALL_RUN_STEPS steps (or `?job=1`) become a background job: to its page."""
    if fmt not in runreport.FORMATS:
        return _bad(f"format: {fmt!r} is not one of {', '.join(runreport.FORMATS)}")
    run = get_for(
        request.user,
        Run.objects.select_related("team", "workflow", "version", "created_by"),
        Action.EXPORT_REPORTS,
        pk=run_id,
    )
    params = {"run_id": run.pk}
    if run.step_count > runreport.SMALL_RUN_STEPS or request.GET.get("job") == "1":
        job = jobs.start_job(request.user, run.team, "run", fmt, params)  # type: ignore[arg-type]
        return redirect("export_job", job_id=job.pk)
    export = jobs.build(request.user, run.team, "run", fmt, params)
    jobs.record_download(run.team, "run", fmt, params)
    return _file(export, fmt)


def _range_params(time_range: TimeRange) -> dict[str, str]:
    return {"from": time_range.start.isoformat(), "to": time_range.end.isoformat()}


def _team_export(request: HttpRequest, kind: str, fmt: str, formats: Any) -> HttpResponse:
    team = _team(request)
    require(request.user, team, Action.VIEW_COSTS)
    require(request.user, team, Action.EXPORT_REPORTS)
    if fmt not in formats:
        return _bad(f"format: {fmt!r} is not one of {', '.join(formats)}")
    try:
        time_range = parse_range(request.GET)
    except FilterError as exc:
        return _bad(str(exc))
    assert time_range is not None  # a default is given
    params = _range_params(time_range)
    large = time_range.span.days > jobs.LARGE_SPAN_DAYS
    if large or request.GET.get("job") == "1":
        job = jobs.start_job(request.user, team, kind, fmt, params)  # type: ignore[arg-type]
        return redirect("export_job", job_id=job.pk)
    export = jobs.build(request.user, team, kind, fmt, params)
    jobs.record_download(team, kind, fmt, params)
    return _file(export, fmt)


@require_GET
@login_required
def usage_page(request: HttpRequest) -> HttpResponse:
    """The usage report page: a range picker and a link per format, and the
    weekly email's recipients."""
    team = _team(request)
    require(request.user, team, Action.VIEW_COSTS)
    membership = require(request.user, team, Action.EXPORT_REPORTS)
    error = ""
    time_range: TimeRange | None
    try:
        time_range = parse_range(request.GET)
    except FilterError as exc:
        error, time_range = str(exc), None
    query = urlencode(time_range.query()) if time_range else ""
    schedule = UsageSchedule.objects.filter(team=team).first()
    context = {
        "team": team,
        "time_range": time_range,
        "query": query,
        "presets": list(PRESETS),
        "formats": list(usage.FORMATS),
        "error": error,
        "schedule": schedule,
        "chosen": set(schedule.recipients.values_list("pk", flat=True)) if schedule else set(),
        "members": _eligible(team),
        "can_schedule": can(membership, Action.EXPORT_REPORTS),
        "section": "dashboards",
    }
    return render(request, "reports/usage.html", context, status=400 if error else 200)


@require_GET
@login_required
def usage_report(request: HttpRequest, fmt: str) -> HttpResponse:
    """The usage report of the current team (VIEW_COSTS and EXPORT_REPORTS) for
    `range` or `from`/`to` as html, pdf, csv or xlsx; over 31 days, a job."""
    return _team_export(request, "usage", fmt, usage.FORMATS)


@require_GET
@login_required
def dashboard_pdf(request: HttpRequest) -> HttpResponse:
    """Every dashboard chart with its rows as one PDF (same range parameters)."""
    return _team_export(request, "dashboard", "pdf", {"pdf": None})


def _job(request: HttpRequest, job_id: int) -> ExportJob:
    job = get_for(request.user, ExportJob, Action.EXPORT_REPORTS, pk=job_id)
    if job.created_by_id != request.user.pk:
        raise Http404("Not found.")  # a teammate's job is theirs
    return job


@require_GET
@login_required
def export_job(request: HttpRequest, job_id: int) -> HttpResponse:
    """A job's page: progress (htmx partial polled every second while it runs)
    and the download link when ready."""
    job = _job(request, job_id)
    template = "reports/_job.html" if request.htmx else "reports/job.html"  # type: ignore[attr-defined]
    return render(request, template, {"job": job, "JobStatus": JobStatus})


@require_GET
@login_required
def export_job_download(request: HttpRequest, job_id: int) -> HttpResponse:
    """The finished job's file; 409 while it is not ready."""
    job = _job(request, job_id)
    if job.status != JobStatus.DONE or job.content is None:
        return HttpResponse(
            f"export {job.pk} is {job.status}, not ready", status=409, content_type="text/plain"
        )
    jobs.record_download(job.team_id, job.kind, job.fmt, job.params)
    export = jobs.Export(bytes(job.content), job.filename, job.content_type)
    return _file(export, job.fmt)


@require_GET
@login_required
def workflow_export(request: HttpRequest, workflow_id: int, fmt: str) -> HttpResponse:
    """A workflow definition as json or yaml (VIEW, like the editor's export):
    `?version=N` that version, `?version=draft` the draft, else the latest
    version (the draft when none is published)."""
    if fmt not in WORKFLOW_FORMATS:
        return _bad(f"format: {fmt!r} is not one of json, yaml")
    workflow = get_for(request.user, Workflow, Action.VIEW, pk=workflow_id)
    wanted = request.GET.get("version", "latest").strip()
    if wanted == "draft":
        version = None
    elif wanted == "latest":
        version = workflow.latest_version()
    elif wanted.isdigit():
        version = workflow.versions.filter(number=int(wanted)).first()
        if version is None:
            raise Http404(f"Workflow {workflow.pk} has no version {wanted}.")
    else:
        return _bad(f"version: {wanted!r} is not a number, 'latest' or 'draft'")
    text = workflowio.dumps(workflowio.document(workflow, version), fmt, workflow.team_id)
    suffix = f"v{version.number}" if version else "draft"
    slug = "".join(c if c.isalnum() else "-" for c in workflow.name.lower()).strip("-")
    response = HttpResponse(text, content_type=WORKFLOW_FORMATS[fmt])
    response["Content-Disposition"] = f'attachment; filename="{slug or "workflow"}-{suffix}.{fmt}"'
    jobs.record_download(workflow.team_id, "workflow", fmt, {"workflow_id": workflow.pk})
    return response


@require_http_methods(["GET", "POST"])
@login_required
def workflow_import(request: HttpRequest) -> HttpResponse:
    """Import a workflow file (JSON or YAML, uploaded or pasted) into the current
    team (EDIT_DRAFT and PUBLISH): validated first, every problem listed (400),
    nothing stored unless it is all good; then published as version 1."""
    team = _team(request)
    require(request.user, team, Action.EDIT_DRAFT)
    require(request.user, team, Action.PUBLISH)
    context: dict[str, Any] = {"team": team, "problems": [], "error": "", "section": "workflows"}
    if request.method == "GET":
        return render(request, "reports/import.html", context)
    upload = request.FILES.get("file")
    try:
        if upload is not None:
            if upload.size and upload.size > workflowio.MAX_BYTES:
                raise workflowio.WorkflowFileError(
                    f"The file is larger than {workflowio.MAX_BYTES:,} bytes."
                )
            try:
                text = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                raise workflowio.WorkflowFileError("The file is not UTF-8 text.") from None
            filename = upload.name or ""
        else:
            text, filename = request.POST.get("text", ""), ""
        if not text.strip():
            raise workflowio.WorkflowFileError("Choose a file or paste its text.")
        doc = workflowio.parse(text, filename)
        workflow = workflowio.do_import(
            team, doc, user=request.user, name=request.POST.get("name", "").strip() or None
        )
    except workflowio.WorkflowFileError as exc:
        context |= {"error": str(exc), "problems": exc.problems, "text": request.POST.get("text")}
        return render(request, "reports/import.html", context, status=400)
    return redirect("workflow_edit", workflow_id=workflow.pk)


def _eligible(team: Team) -> list[User]:
    """Members of `team` who may receive the usage report (VIEW_COSTS and
    EXPORT_REPORTS), by username."""
    members = Membership.objects.filter(team=team).select_related("user").order_by("user__username")
    return [m.user for m in members if can(m, Action.VIEW_COSTS) and can(m, Action.EXPORT_REPORTS)]


@require_http_methods(["POST"])
@login_required
def usage_schedule(request: HttpRequest) -> HttpResponse:
    """Set the weekly usage email of the current team (EXPORT_REPORTS):
    `enabled` and `recipients` (user ids of members who may see costs and
    export reports; anyone else is a 400 naming them)."""
    team = _team(request)
    require(request.user, team, Action.VIEW_COSTS)
    require(request.user, team, Action.EXPORT_REPORTS)
    eligible = {user.pk: user for user in _eligible(team)}
    chosen: list[User] = []
    for raw in request.POST.getlist("recipients"):
        if not raw.isdigit() or int(raw) not in eligible:
            return _bad(f"recipients: {raw!r} is not a member who may receive usage reports")
        chosen.append(eligible[int(raw)])
    with transaction.atomic():
        schedule, _ = UsageSchedule.objects.get_or_create(team=team)
        schedule.enabled = request.POST.get("enabled") == "on"
        schedule.save(update_fields=["enabled", "updated_at"])
        schedule.recipients.set(chosen)
    return redirect("usage_reports")
