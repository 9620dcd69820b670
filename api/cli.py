"""Service subcommands for `qa-engine`: serve, worker, keys create / list / revoke, users, report, privacy.

Hooked into qa_engine/cli.py by `register(subparsers)`; also runnable alone: `python -m api.cli ...`.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from api.config import Settings
    from api.main import create_app

    settings = Settings()
    if args.workers is not None:
        settings.workers = args.workers
    print(f"qa-engine: serving on http://{args.host}:{args.port}  (API docs: http://{args.host}:{args.port}/docs; "
          f"data in {settings.data_dir.resolve()})", file=sys.stderr)
    uvicorn.run(create_app(settings), host=args.host, port=args.port, log_level=args.log_level,
                timeout_graceful_shutdown=10)
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    import os

    from api.config import Settings

    settings = Settings()
    device = args.device or settings.asr_device
    if device not in ("cpu", "cuda"):
        print(f"qa-engine worker: QA_ASR_DEVICE={device!r}: use cpu or cuda", file=sys.stderr)
        return 2
    if args.batch_size is not None and args.batch_size < 0:
        print("qa-engine worker: --batch-size must be 0 (each call on its own) or more", file=sys.stderr)
        return 2
    if device == "cuda":
        from gpu.device import require_cuda
        from qa_engine.errors import ModelError

        if args.pool == "prefork":
            # A forked child cannot use a CUDA context its parent opened, and the point of a
            # GPU worker is one model shared by many calls in one process.
            print("qa-engine worker: --device cuda: use --pool threads (the default) or solo, not prefork",
                  file=sys.stderr)
            return 2
        try:
            require_cuda()
        except ModelError as exc:
            print(f"qa-engine worker: --device cuda: {exc}", file=sys.stderr)
            return 2
    if not settings.broker_url:
        print("qa-engine worker: set QA_BROKER_URL (e.g. redis://127.0.0.1:6379/0) and QA_DATABASE_URL "
              "to the same values as the API", file=sys.stderr)
        return 2
    # The tasks read their settings from the environment (in this process, or in prefork
    # children): the command line's choices travel there.
    os.environ["QA_ASR_DEVICE"] = device
    if args.batch_size is not None:
        os.environ["QA_BATCH_SIZE"] = str(args.batch_size)
    # On a GPU: one process, many calls in flight as threads sharing one model (their
    # windows share batches). On the CPU: as before, one call per process.
    pool = args.pool or ("threads" if device == "cuda" else None)
    concurrency = args.concurrency or (settings.calls_in_flight if device == "cuda" else 1)

    from api.jobs.celery_app import make_celery

    app = make_celery(settings)
    argv = ["worker", f"--loglevel={args.log_level.upper()}", f"--concurrency={concurrency}",
            "--without-gossip", "--without-mingle", "-n", f"qa@%h-{args.name}" if args.name else "qa@%h"]
    if pool:
        argv.append(f"--pool={pool}")
    print(f"qa-engine worker: device {device}, pool {pool or 'prefork'}, {concurrency} call(s) at once",
          file=sys.stderr)
    app.worker_main(argv)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    import json

    from api.auth import service as auth
    from api.config import Settings
    from api.database.core import Database

    db = Database(Settings())
    db.migrate()
    with db.session() as s:
        if args.keys_command == "list":
            rows = [auth.key_dict(k) for k in auth.list_keys(s)]
            if args.json:
                print(json.dumps(rows, default=str, indent=1))
                return 0
            print(f"{'id':32}  {'prefix':13}  {'role':15}  {'status':7}  {'created':16}  {'expires':16}  name")
            for r in rows:
                when = (f"{r['expires_at']:%Y-%m-%d %H:%M}" if r["expires_at"] else "never")
                print(f"{r['id']:32}  {r['prefix'] + '...':13}  {r['role']:15}  {r['status']:7}  "
                      f"{r['created_at']:%Y-%m-%d %H:%M}  {when:16}  {r['name']}")
            return 0
        if args.keys_command == "revoke":
            try:
                key = auth.find_key(s, args.key)
            except LookupError as exc:
                print(f"qa-engine: error: {exc}", file=sys.stderr)
                return 2
            was = key.revoked_at
            auth.revoke_key(s, key)
            print(f"{'already revoked' if was else 'revoked'}: {key.role} key {key.prefix}... (id {key.id}, "
                  f"name {key.name!r}) at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC", file=sys.stderr)
            return 0
        try:
            key, plain = auth.create_key(s, args.role, args.name, auth.expiry(expires_in_days=args.expires_in_days))
        except ValueError as exc:
            print(f"qa-engine: error: {exc}", file=sys.stderr)
            return 2
    print(plain)
    until = f", expires {key.expires_at:%Y-%m-%d %H:%M} UTC" if key.expires_at else ""
    print(f"created {key.role} key {key.prefix}... (id {key.id}{until}); it is shown only once", file=sys.stderr)
    return 0


def cmd_users(args: argparse.Namespace) -> int:
    import getpass
    import os

    from api.auth.service import create_user
    from api.config import Settings
    from api.database.core import Database

    password = os.environ.get("QA_USER_PASSWORD") or getpass.getpass(f"password for {args.username}: ")
    db = Database(Settings())
    db.migrate()
    with db.session() as s:
        try:
            user = create_user(s, args.username, password, args.role, args.agent_id)
        except ValueError as exc:
            print(f"qa-engine: error: {exc}", file=sys.stderr)
            return 2
    print(f"created {user.role} user {user.username} (id {user.id})", file=sys.stderr)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from datetime import date

    from api.config import Settings
    from api.database.core import Database
    from api.reports import service as reports

    try:
        day = date.fromisoformat(args.day)
    except ValueError:
        print(f"qa-engine: error: --day must be YYYY-MM-DD, not {args.day!r}", file=sys.stderr)
        return 2
    settings = Settings()
    db = Database(settings)
    db.migrate()
    with db.session() as s:
        report = reports.daily(s, day, period=args.period, tz=settings.report_tz)
    if args.format == "xlsx":
        if not args.out:
            print("qa-engine: error: --format xlsx needs --out FILE", file=sys.stderr)
            return 2
        with open(args.out, "wb") as fh:
            fh.write(reports.to_xlsx(report))
        return 0
    import json

    text = reports.to_csv(report) if args.format == "csv" else json.dumps(report, ensure_ascii=False, indent=2)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as fh:
            fh.write(text)
    else:
        print(text)
    return 0


def cmd_privacy(args: argparse.Namespace) -> int:
    import json

    from api.config import Settings
    from api.database.core import Database
    from api.privacy import service as privacy
    from api.storage import AudioStore

    settings = Settings()
    db = Database(settings)
    db.migrate()
    if args.privacy_command == "mask-stored":
        counts = privacy.mask_stored(db, settings, AudioStore(settings.audio_dir, settings.tmp_dir))
        print(f"{counts['checked']} stored result(s) checked, {counts['masked']} masked, "
              f"{counts['bleeped']} recording(s) bleeped, {counts['failed']} failed", file=sys.stderr)
        return 1 if counts["failed"] else 0
    with db.session() as s:
        rows = [privacy.access_dict(r) for r in privacy.access_log(s, call_id=args.call, limit=args.limit)]
    if args.json:
        print(json.dumps(rows, ensure_ascii=False, indent=1))
        return 0
    for r in rows:
        a = r["actor"]
        print(f"{r['at']}  {'granted' if r['granted'] else 'REFUSED'}  {r['call_id']}  {r['resource']:10s}  "
              f"{a['kind']}:{a['name']} ({a['role']})  from {r['client_ip'] or '-'}  {r['detail']}")
    return 0


def register(subparsers: Any) -> dict[str, Any]:
    """Add serve / worker / keys to a `qa-engine` subparsers object; returns {command: function}."""
    s = subparsers.add_parser("serve", help="run the REST service (API + in-process workers, SQLite by default)")
    s.add_argument("--host", default="127.0.0.1")
    s.add_argument("--port", type=int, default=8000)
    s.add_argument("--workers", type=int, default=None,
                   help="calls analysed at once (default: QA_WORKERS or 4)")
    s.add_argument("--log-level", default="info")
    w = subparsers.add_parser("worker", help="run a Celery worker (needs QA_BROKER_URL and QA_DATABASE_URL)")
    w.add_argument("--device", choices=["cpu", "cuda"], default=None,
                   help="where the ASR runs (default: QA_ASR_DEVICE or cpu); CPU and GPU workers share one queue")
    w.add_argument("--batch-size", type=int, default=None,
                   help="speech windows per ASR batch (default: QA_BATCH_SIZE; on cuda, from free GPU memory); "
                        "0: each call decoded on its own")
    w.add_argument("--concurrency", type=int, default=None,
                   help="calls at once (default: 1 on cpu; QA_CALLS_IN_FLIGHT, 8, on cuda)")
    w.add_argument("--pool", choices=["prefork", "solo", "threads"], default=None,
                   help="Celery pool (default: prefork on cpu, threads on cuda)")
    w.add_argument("--name", default="")
    w.add_argument("--log-level", default="info")
    k = subparsers.add_parser("keys", help="manage API keys")
    ksub = k.add_subparsers(dest="keys_command", required=True)
    kc = ksub.add_parser("create", help="create an API key and print it (shown once)")
    kc.add_argument("--role", required=True, choices=["client", "inspector", "supervisor", "admin", "privacy_officer"])
    kc.add_argument("--name", default="")
    kc.add_argument("--expires-in-days", type=float, default=None,
                    help="the key stops working after this many days (default: never)")
    kl = ksub.add_parser("list", help="list the API keys (id, prefix, role, status; never the key)")
    kl.add_argument("--json", action="store_true")
    kr = ksub.add_parser("revoke", help="revoke an API key: from now on it gets 401")
    kr.add_argument("key", help="the key's id, its prefix (as `keys list` shows it), or the key itself")
    u = subparsers.add_parser("users", help="manage web UI users")
    usub = u.add_subparsers(dest="users_command", required=True)
    uc = usub.add_parser("create", help="create a web UI user (password from QA_USER_PASSWORD or a prompt)")
    uc.add_argument("--username", required=True)
    uc.add_argument("--role", required=True,
                    choices=["inspector", "supervisor", "admin", "agent", "privacy_officer"])
    uc.add_argument("--agent-id", default=None, help="for agents: the agent_id in the calls' metadata")
    r = subparsers.add_parser("report", help="the daily scorecard report per agent and team")
    r.add_argument("--day", required=True, help="YYYY-MM-DD (UTC)")
    r.add_argument("--period", choices=["day", "week", "month"], default="day", help="the day's week or month")
    r.add_argument("--format", choices=["json", "csv", "xlsx"], default="json")
    r.add_argument("--out", default="", help="write to this file (needed for xlsx)")
    pv = subparsers.add_parser("privacy", help="customer data: the PII access log; mask results stored before masking")
    pvsub = pv.add_subparsers(dest="privacy_command", required=True)
    pl = pvsub.add_parser("log", help="who read clear originals (newest first)")
    pl.add_argument("--call", default=None, help="one call's id")
    pl.add_argument("--limit", type=int, default=100)
    pl.add_argument("--json", action="store_true")
    pvsub.add_parser("mask-stored", help="mask every result stored in clear (analysed before masking) and bleep "
                                         "its recording; the clear original is kept for the privacy officer")
    return {"serve": cmd_serve, "worker": cmd_worker, "keys": cmd_keys, "users": cmd_users, "report": cmd_report,
            "privacy": cmd_privacy}


def main(argv: list[str] | None = None) -> int:
    """The `qa-engine` console script: the engine's commands plus serve / worker / keys."""
    from qa_engine.cli import main as engine_main

    return engine_main(argv, extra=register)


if __name__ == "__main__":
    sys.exit(main())
