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
    "login_locked": ("登录失败次数过多，已暂时锁定：请于 {until}（{seconds} 秒后）再试",
                     "Too many failed log-ins, log-in is locked for now: try again at {until} (in {seconds} s)"),
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
    "unscored": ("待人工评分", "to be scored by hand"),
    "masked_notice": ("手机号、身份证号、银行卡号已脱敏，录音中已消音。", "Phone, ID and card numbers are masked, "
                      "and bleeped in the recording."),
    "show_clear": ("查看明文原件（访问将被记录）", "Show the clear original (the access is recorded)"),
    "clear_notice": ("明文原件：本次访问已记录（人员、时间、通话、来源地址）。", "Clear original: this access is "
                     "recorded (who, when, which call, from where)."),
    "show_masked": ("返回脱敏版本", "Back to the masked version"),
    # errors as pages (api/ui/errors.py): a title and a next step per problem code, {placeholders} from the problem
    "error": ("出错了", "Something went wrong"),
    "error_code": ("错误代码", "Error code"),
    "back_to_call": ("返回通话页面", "Back to the call"),
    "back_to_queue": ("返回质检队列", "Back to the review queue"),
    "reload": ("刷新本页", "Reload this page"),
    "go_back": ("返回上一页", "Go back"),
    "log_in_again": ("重新登录", "Log in again"),
    "err_400": ("请求无效。", "The request is not valid."),
    "err_403": ("您没有权限执行此操作。", "You are not allowed to do this."),
    "err_404": ("找不到该页面。", "There is no such page."),
    "err_405": ("此页面不支持该操作。", "This page does not support that action."),
    "err_409": ("现在无法执行此操作。", "This cannot be done right now."),
    "err_413": ("提交的内容太大。", "What you sent is too large."),
    "err_422": ("提交的内容有误，请检查后重试。", "Something in the form is not valid; check it and try again."),
    "err_429": ("尝试次数过多，请稍等片刻再试。", "Too many attempts; wait a moment and try again."),
    "err_500": ("服务出现意外错误，请重试；如仍出现请联系管理员。",
                "The service hit an unexpected error; try again, and tell an administrator if it persists."),
    "err_503": ("服务暂时不可用，请稍后再试。", "The service is unavailable for now; try again shortly."),
    "err_forbidden": ("您的账号（{role}）没有权限执行此操作。", "Your account ({role}) may not do this."),
    "err_forbidden_agent": ("座席只能查看自己的通话。", "An agent can open only their own calls."),
    "err_csrf": ("表单已过期或来源不明。请返回页面、刷新后重新提交。",
                 "The form has expired or did not come from this site. Go back, reload the page and submit again."),
    "err_call_not_found": ("找不到该通话：可能已被删除，或链接有误。",
                           "There is no such call: it may have been deleted, or the link is wrong."),
    "err_not_found": ("找不到该页面。", "There is no such page."),
    "err_appeal_not_found": ("找不到该申诉。", "There is no such appeal."),
    "err_item_not_found": ("该评分表中没有此项目。", "The scorecard has no such item."),
    "err_call_queued": ("该通话正在排队等待分析，完成后即可复核。请稍后刷新。",
                        "The call is waiting to be analysed; it can be reviewed once it is done. Reload shortly."),
    "err_call_processing": ("该通话仍在分析中，完成后即可复核。请稍后刷新。",
                            "The call is still being analysed; it can be reviewed once it is done. Reload shortly."),
    "err_call_failed": ("该通话分析失败，无法复核。请让提交方重新上传录音。",
                        "The call's analysis failed, so it cannot be reviewed. Ask the sender to upload it again."),
    "err_invalid_score": ("分数须在 0 到 {max} 之间。", "The score must be between 0 and {max}."),
    "err_invalid_status": ("请选择列表中的状态。", "Choose a status from the list."),
    "err_invalid_reason": ("请填写申诉理由。", "Give a reason for the appeal."),
    "err_invalid_day": ("日期格式应为 年-月-日（如 2026-11-20）。", "The date must be YYYY-MM-DD (e.g. 2026-11-20)."),
    "err_appeal_decided": ("该申诉已处理，不能再次处理。", "The appeal has been decided already."),
    "err_audio_gone": ("录音已按保留期限删除，只能查看文字结果。",
                       "The recording has been deleted by retention; only the written results remain."),
    "err_clear_original_forbidden": ("明文原件仅限隐私专员查看；本次请求已记录。",
                                     "The clear original is for the privacy officer; this request was recorded."),
    "err_invalid_request": ("提交的内容有误，请检查后重试。",
                            "Something in the form is not valid; check it and try again."),
    "err_manual_unscored": ("还有人工评分项目未打分：{items}。请先为这些项目打分，再完成复核。",
                            "Manual items are not scored yet: {items}. Score them, then finalise the review."),
    "err_rubric_language": ("该通话为{call_language}，不能用{rubric_language}评分标准重新评分。"
                            "请选择同语言的评分标准。",
                            "The call is in {call_language}; it cannot be rescored with a rubric in "
                            "{rubric_language}. Choose a rubric in the call's language."),
    "err_rescore_not_found": ("找不到该重新评分版本。", "There is no such rescore version."),
    "err_rescore_adopted": ("该重新评分版本已被采用。", "That rescore version has been adopted already."),
    "err_unknown_rubric": ("找不到该评分标准（版本）。", "There is no such rubric (version)."),
    "err_bad_rubric": ("该评分标准无法使用。", "That rubric cannot be used."),
    # rescore versions (api/review/service.py: rescore, adopt)
    "rescore": ("重新评分", "Rescore"),
    "rescore_hint": ("用其他版本的评分标准重新评分（不重新转写）。结果作为待采用版本保存，采用后才成为正式得分。",
                     "Score the stored transcript under another rubric version (no re-transcription). The result "
                     "is kept as a version; it becomes the official score only when adopted."),
    "rubric": ("评分标准", "Rubric"),
    "rescores": ("重新评分版本", "Rescore versions"),
    "official": ("正式", "Official"),
    "adopt": ("采用为正式结果", "Adopt as official"),
    "passed_q": ("是否合格", "Passed"),
    "yes": ("是", "yes"),
    "no": ("否", "no"),
    # the customer's emotion over the call (call.semantic.emotion)
    "emotion": ("客户情绪", "Customer emotion"),
    "emotion_trajectory": ("情绪走向", "Emotion trajectory"),
    "emotion_start": ("开始", "Start"),
    "emotion_end": ("结束", "End"),
    "no_emotion": ("没有客户情绪数据", "No customer emotion data"),
    "call_timeline": ("通话时间轴", "Call timeline"),
}

# Ids the pages show, by name: item statuses, flags, event types, semantic labels, roles, audit actions, appeal
# states and the bundled rubrics' item ids (a scorecard's own item names come first; see `namer`).
NAMES: dict[str, tuple[str, str]] = {
    # item statuses
    "pass": ("合格", "pass"), "fail": ("不合格", "fail"), "manual": ("人工评分", "manual"),
    "needs_review": ("待复核", "needs review"), "not_applicable": ("不适用", "not applicable"),
    # flags
    "escalation": ("客户升级风险", "customer escalation"), "customer_emotion": ("客户情绪", "customer emotion"),
    "pii": ("敏感信息", "personal data spoken"), "fatal": ("一票否决", "fatal"),
    "needs_review_flag": ("待复核", "needs review"), "low_confidence": ("表达不自信", "low confidence"),
    # event types
    "agent_conduct": ("服务态度问题", "agent conduct"), "dead_air": ("冷场", "dead air"), "hold": ("等待", "hold"),
    "forbidden_phrase": ("禁用语", "forbidden phrase"), "interruption": ("抢话", "interruption"),
    "late_answer": ("接听过慢", "late answer"), "loud": ("音量过大", "too loud"), "quiet": ("音量过小", "too quiet"),
    "missing_apology": ("未致歉", "missing apology"), "monotone": ("语调单一", "monotone"),
    "pace_mismatch": ("语速不匹配", "pace mismatch"), "fast_speech": ("语速过快", "fast speech"),
    "slow_speech": ("语速过慢", "slow speech"), "missing_greeting": ("缺少开场白", "missing greeting"),
    "missing_closing": ("缺少结束语", "missing closing"),
    # semantic labels (qa_engine/semantic/classifier.py)
    "dismissive": ("推诿敷衍", "dismissive"), "rude": ("态度粗鲁", "rude"), "blaming": ("指责客户", "blaming"),
    "empathy": ("共情致歉", "empathy"), "hedging": ("含糊不确定", "hedging"), "angry": ("愤怒", "angry"),
    "frustrated": ("不满", "frustrated"), "anxious": ("焦虑", "anxious"), "satisfied": ("满意", "satisfied"),
    "neutral": ("平静", "neutral"),
    # pii kinds
    "phone": ("手机号", "phone number"), "id_number": ("身份证号", "ID card number"),
    "bank_card": ("银行卡号", "bank card number"),
    # roles
    "inspector": ("质检员", "inspector"), "supervisor": ("主管", "supervisor"), "admin": ("管理员", "admin"),
    "agent": ("座席", "agent"), "privacy_officer": ("隐私专员", "privacy officer"), "client": ("接入方", "client"),
    # audit actions and appeal states
    "override": ("改判", "override"), "finalize": ("完成复核", "finalise"), "appeal": ("提交申诉", "appeal"),
    "appeal_accepted": ("申诉通过", "appeal accepted"), "appeal_rejected": ("申诉驳回", "appeal rejected"),
    "rescore": ("重新评分", "rescore"), "adopt_rescore": ("采用重新评分", "rescore adopted"),
    "open": ("待处理", "open"), "accepted": ("已通过", "accepted"), "rejected": ("已驳回", "rejected"),
    "proposed": ("待采用", "proposed"), "adopted": ("已采用", "adopted"), "superseded": ("已被取代", "superseded"),
    "finalized": ("已完成复核", "finalised"), "total": ("总分", "total"), "reply": ("回复", "reply"),
    "reason": ("理由", "reason"), "status": ("状态", "status"), "score": ("得分", "score"),
    "comment": ("备注", "comment"), "rubric": ("评分标准", "rubric"),
    # languages
    "zh": ("中文", "Chinese"), "en": ("英文", "English"),
    # the bundled rubrics' items (rubrics/*.yaml), for pages that know only the id
    "answer_delay": ("接听及时", "Answer delay"), "greeting": ("标准开场白", "Opening script"),
    "closing": ("标准结束语", "Closing script"), "polite_language": ("文明用语", "Polite language"),
    "speech_rate": ("语速适中", "Speech rate"), "volume": ("音量适当", "Volume"),
    "intonation": ("语调有起伏", "Intonation (not monotone)"), "interruptions": ("不抢话", "No interrupting"),
    "apology": ("投诉致歉", "Apology after a complaint"), "forbidden_phrases": ("服务禁语", "Forbidden phrases"),
    "conduct": ("服务态度", "Agent conduct"), "confidence": ("表达自信", "Confidence"),
    "business_knowledge": ("业务知识准确", "Business knowledge correct"),
    "problem_solved": ("问题解决", "Problem solved"),
}


def translator(lang: str) -> Callable[[str], str]:
    i = 1 if lang == "en" else 0

    def t(key: str) -> str:
        pair = STRINGS.get(key)
        return pair[i] if pair else key
    return t


def namer(lang: str, own: dict[str, tuple[str, str]] | None = None) -> Callable[[str | None], str]:
    """An id's name in `lang`: the page's own names first (a scorecard's item names), then NAMES; the id itself
    where neither knows it, so a new id shows up rather than disappearing."""
    i = 1 if lang == "en" else 0

    def n(key: str | None) -> str:
        if key is None:
            return ""
        pair = (own or {}).get(key) or NAMES.get(key)
        return (pair[i] or pair[0]) if pair else key
    return n
