"""UI strings: Chinese by default, English by the switch (cookie `qa_lang`)."""

from __future__ import annotations

from collections.abc import Callable

LANGS = ("zh", "en")

STRINGS: dict[str, tuple[str, str]] = {
    "app": ("智能质检工作台", "QA review workspace"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误", "Wrong username or password"),
    "queue": ("质检队列", "Review queue"),
    "report": ("日报", "Daily report"),
    "appeals": ("申诉", "Appeals"),
    "date": ("日期", "Date"),
    "team": ("班组", "Team"),
    "agent": ("座席", "Agent"),
    "failed_item": ("不合格项", "Failed item"),
    "reviewed": ("已复核", "Reviewed"),
    "not_reviewed": ("未复核", "Not reviewed"),
    "any": ("全部", "Any"),
    "scope": ("范围", "Scope"),
    "flagged": ("仅标记通话", "Flagged only"),
    "all_calls": ("所有通话", "All calls"),
    "filter": ("筛选", "Filter"),
    "score": ("得分", "Score"),
    "machine_score": ("机器评分", "Machine score"),
    "final_score": ("最终得分", "Final score"),
    "flags": ("标记", "Flags"),
    "call": ("通话", "Call"),
    "open": ("打开", "Open"),
    "no_calls": ("没有符合条件的通话", "No calls match"),
    "transcript": ("转写文本", "Transcript"),
    "no_recording": ("该通话以转写文本提交，没有录音", "This call was submitted as a transcript: it has no recording"),
    "findings": ("发现的问题", "Findings"),
    "scorecard": ("评分表", "Scorecard"),
    "item": ("项目", "Item"),
    "status": ("状态", "Status"),
    "evidence": ("证据", "Evidence"),
    "comment": ("备注", "Comment"),
    "save": ("保存", "Save"),
    "confirm": ("确认", "Confirm"),
    "finalize": ("完成复核", "Finalise review"),
    "finalized": ("已完成复核", "Review finalised"),
    "audit": ("操作记录", "Audit trail"),
    "who": ("操作人", "Who"),
    "when": ("时间", "When"),
    "action": ("操作", "Action"),
    "before": ("修改前", "Before"),
    "after": ("修改后", "After"),
    "appeal": ("申诉", "Appeal"),
    "reason": ("理由", "Reason"),
    "submit_appeal": ("提交申诉", "Submit appeal"),
    "accept": ("接受", "Accept"),
    "reject": ("驳回", "Reject"),
    "reply": ("回复", "Reply"),
    "agent_side": ("座席", "Agent"),
    "customer_side": ("客户", "Customer"),
    "calls_analysed": ("分析通话数", "Calls analysed"),
    "avg_score": ("平均分", "Average score"),
    "median_score": ("中位数", "Median score"),
    "pass_rate": ("合格率", "Pass rate"),
    "fatal": ("一票否决", "Fatal"),
    "violations": ("不合格项（通话数）", "Failed items (calls)"),
    "confirmed": ("人工结果", "Inspector's result"),
    "confirmed_hint": ("质检员改判或已复核的通话按质检员的结果（各项状态、得分、合格、一票否决）统计，其余按机器结果；"
                       "校准一节对比机器与质检员。",
                       "Calls an inspector has overridden or finalised count with the inspector's result (item "
                       "statuses, score, pass, fatal), the others with the machine's; the calibration compares "
                       "the two."),
    "worst_calls": ("最差通话", "Worst calls"),
    "by_agent": ("按座席", "By agent"),
    "by_team": ("按班组", "By team"),
    "total": ("合计", "Total"),
    "download": ("下载", "Download"),
    "time": ("时间", "Time"),
    "type": ("类型", "Type"),
    "max": ("满分", "Max"),
    "new_status": ("新状态", "New status"),
    "decision": ("处理结果", "Decision"),
    "calibration": ("校准（机器与质检员一致性）", "Calibration (machine vs inspector)"),
    "report_day": ("日报", "Daily report"),
    "report_week": ("周报", "Weekly report"),
    "report_month": ("月报", "Monthly report"),
    "period": ("周期", "Period"),
    "trend": ("较上期", "vs previous"),
    "previous": ("上期", "Previous period"),
    "chart": ("座席平均分", "Average score by agent"),
    "sampled": ("抽检", "sampled"),
    "agreement": ("一致率", "Agreement"),
    "overridden": ("被改判次数", "Overridden"),
    "pass": ("合格", "pass"),
    "fail": ("不合格", "fail"),
    "manual": ("人工评分", "manual"),
    "needs_review": ("待复核", "needs review"),
    "not_applicable": ("不适用", "not applicable"),
    "masked_notice": ("手机号、身份证号、银行卡号已脱敏，录音中已消音。", "Phone, ID and card numbers are masked, "
                      "and bleeped in the recording."),
    "show_clear": ("查看明文原件（访问将被记录）", "Show the clear original (the access is recorded)"),
    "clear_notice": ("明文原件：本次访问已记录（人员、时间、通话、来源地址）。", "Clear original: this access is "
                     "recorded (who, when, which call, from where)."),
    "show_masked": ("返回脱敏版本", "Back to the masked version"),
}


def translator(lang: str) -> Callable[[str], str]:
    i = 1 if lang == "en" else 0

    def t(key: str) -> str:
        pair = STRINGS.get(key)
        return pair[i] if pair else key
    return t
