"""Reports: the web page (/ui/reports/daily) and the API (/v1/reports/daily), in json, csv or xlsx."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import CtxDep, SessionDep, require
from api.reports import service
from api.ui.i18n import namer
from api.ui.pages import WhoDep, lang_of, page

router = APIRouter(tags=["web UI"], include_in_schema=False)
api_router = APIRouter(prefix="/v1/reports", tags=["reports"])


def report_response(report: dict[str, Any], fmt: str) -> Response:
    if fmt == "csv":
        return Response(service.to_csv(report), media_type="text/csv; charset=utf-8", headers={
            "Content-Disposition": f'attachment; filename="qa-{report["period"]}-{report["from"]}.csv"'})
    if fmt == "xlsx":
        return Response(service.to_xlsx(report), headers={
            "Content-Disposition": f'attachment; filename="qa-{report["period"]}-{report["from"]}.xlsx"'},
            media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    return JSONResponse(report)


@router.get("/ui/reports/daily")
def daily_page(request: Request, ctx: CtxDep, session: SessionDep, who: WhoDep,
               day: Annotated[str | None, Query(max_length=10)] = None,
               format: Annotated[str, Query(pattern="^(html|csv|xlsx|json)$")] = "html",
               period: Annotated[str, Query(pattern="^(day|week|month)$")] = "day") -> Response:
    agent = (who.user.agent_id or "") if who.user.role == "agent" else None  # an agent sees their own figures
    report = service.daily(session, service.parse_day(day), agent_id=agent, period=period,
                           tz=ctx.settings.report_tz)
    if format != "html":
        return report_response(report, format)
    names = {k: (v, report["item_names_en"].get(k, v)) for k, v in report["item_names"].items()}
    return page(request, "report.html", who, r=report, item_name=namer(lang_of(request), names))


@api_router.get("/daily", summary="Daily scorecard report per agent and team (json, csv or xlsx)")
def daily_api(ctx: CtxDep, session: SessionDep,
              _key: Annotated[Any, Depends(require("inspector", "supervisor", "admin"))],
              day: Annotated[str | None, Query(max_length=10, description="YYYY-MM-DD (UTC); default today")] = None,
              format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
              period: Annotated[str, Query(pattern="^(day|week|month)$", description="its week or month")] = "day",
              ) -> Response:
    report = service.daily(session, service.parse_day(day), period=period, tz=ctx.settings.report_tz)
    return report_response(report, format)
