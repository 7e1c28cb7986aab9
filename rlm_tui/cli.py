"""`rlm-tui`: the TUI by default; `ask` (headless), `replay`, `doctor`, `serve`, `eval`, `trust`, and
the protocol servers `mcp` (Model Context Protocol) and `acp` (Agent Client Protocol).

Exit codes: 0 answered, 1 failed, 2 usage or configuration error, 3 partial answer (a
budget ran out), 130 interrupted. Everything printed goes through `rlm_tui.terminal.say`
(keys scrubbed, control sequences dropped).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from rlm_tui.terminal import err, say

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
COMMANDS = ("ask", "replay", "doctor", "serve", "models", "eval", "trust", "mcp", "acp")


class UsageError(Exception):
    """Bad arguments or settings: exit 2 with the message."""


def _model_flags(parser: argparse.ArgumentParser, *, turn_cost: bool = True) -> None:
    group = parser.add_argument_group("model and budget (override config.toml and RLM_TUI_* env vars)")
    group.add_argument("--model", help="root LM, any litellm model string (e.g. openai/gpt-4o-mini)")
    group.add_argument("--sub-model", help="sub-LM for llm_query/predict (default: --model)")
    group.add_argument("--api-base", help="OpenAI-compatible endpoint URL for both models")
    group.add_argument("--config", type=Path, help="config file (default: ~/.config/rlm-tui/config.toml)")
    group.add_argument("--router", type=Path, metavar="FILE",
                       help="send every LM call through a LiteLLM Router (model_list YAML; --model names a group)")
    group.add_argument("--max-iterations", type=int, help="root iterations per turn")
    group.add_argument("--max-lm-calls", type=int, help="LM calls per turn, sub-calls included")
    group.add_argument("--max-tokens", type=int, help="tokens per turn")
    if turn_cost:  # `eval --max-cost` is the whole eval's (config's [budget] still caps each task)
        group.add_argument("--max-cost", type=float, dest="max_cost_usd", help="USD per turn")
    group.add_argument("--max-seconds", type=float, help="wall time per turn")
    group.add_argument("--skill", action="append", default=[], metavar="NAME", help="enable a skill (repeatable)")
    group.add_argument("--no-skill", action="append", default=[], metavar="NAME",
                       help="disable a skill enabled by config (repeatable)")


def _trust_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trust", action="store_true",
                        help="trust the project: its skills' host tools (.rlm/skills/*/tools.py) may run on this "
                             "machine (recorded; a changed file asks again)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rlm-tui", description="Recursive Language Models over a local project.")
    sub = parser.add_subparsers(dest="command")

    ask = sub.add_parser("ask", help="answer one question headless (answer on stdout, progress on stderr)")
    ask.add_argument("question")
    ask.add_argument("--project", "-p", default=".", help="project directory (default: .)")
    ask.add_argument("--signature", default="question -> answer", help="DSPy signature, e.g. 'question -> count: int'")
    ask.add_argument("--json", action="store_true",
                     help="print outputs, usage, the partial flag and cited sources (path:line) as JSON")
    ask.add_argument("--trace", type=Path, help="write the JSONL trace here")
    ask.add_argument("--quiet", "-q", action="store_true", help="no progress on stderr")
    _trust_flag(ask)
    _model_flags(ask)

    replay = sub.add_parser("replay", help="open a trace in the read-only replay view (a text summary when piped)")
    replay.add_argument("file", type=Path)
    replay.add_argument("--summary", action="store_true", help="print a text summary instead of opening the TUI")

    doctor = sub.add_parser(
        "doctor", help="check what can run here: models, keys (names only), offline model, sandbox",
        description="Check the configured models (litellm knows them), which provider keys are set (by "
                    "name; no value is printed), the offline runtime and models, and the sandbox (image, "
                    "cache, a measured start). Each check prints ok or missing, and what to run next.",
        epilog="Exit codes: 0 the sandbox runs (anything else missing is reported, not failed); 1 the "
               "sandbox cannot run, so nothing can.")
    doctor.add_argument("--config", type=Path, help="config file (default: ~/.config/rlm-tui/config.toml)")

    models = sub.add_parser("models", help="offline models: list what is installed, pull one")
    models.add_argument("action", choices=("list", "pull"))
    models.add_argument("name", nargs="?", help="model to pull, e.g. qwen2.5-coder-0.5b")

    from rlm_tui.eval.command import add_arguments as eval_arguments

    evaluate = sub.add_parser("eval", help="measure answer quality, cost and time: RLM mode vs direct prompting")
    eval_arguments(evaluate)
    _model_flags(evaluate, turn_cost=False)

    mcp = sub.add_parser("mcp", help="serve the project to an agent over the Model Context Protocol (stdio)")
    mcp.add_argument("project", nargs="?", default=".", help="project directory, fixed for the server's life (default: .)")
    _model_flags(mcp)

    acp = sub.add_parser("acp", help="run as an Agent Client Protocol agent for Zed, toad, ... (stdio)")
    _model_flags(acp)

    trust = sub.add_parser("trust", help="trust a project's skill host tools (or --untrust, --list)")
    trust.add_argument("project", nargs="?", default=".", help="project directory (default: .)")
    trust.add_argument("--untrust", action="store_true", help="forget the project's trust record")
    trust.add_argument("--list", action="store_true", help="list the trusted projects")

    serve = sub.add_parser(
        "serve", help="serve the TUI in a browser (textual-serve)",
        description="Serve the TUI in a browser: each tab runs its own app over PATH; closing the tab "
                    "ends its app. SIGTERM or Ctrl+C ends every app and the server, which exits 0.",
        epilog="API keys are never passed on a command line: the apps read them from this environment "
               "and the config file, as the TUI does.")
    serve.add_argument("path", nargs="?", default=".", help="project directory (default: .)")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0: every interface)")
    serve.add_argument("--port", type=int, default=8000, help="port to listen on (default: 8000)")
    serve.add_argument("--model", help="root LM of every tab's app, any litellm model string "
                                       "(default: config.toml, RLM_TUI_MODEL, else the offline model)")
    serve.add_argument("--api-base", help="OpenAI-compatible endpoint URL for the apps' models "
                                          "(default: config.toml or RLM_TUI_API_BASE)")
    serve.add_argument("--config", type=Path, help="config file for the apps (default: ~/.config/rlm-tui/config.toml)")
    return parser


def build_tui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlm-tui", description="Recursive Language Models over a local project, in the terminal.",
        epilog=f"Other commands: {', '.join(COMMANDS)} (rlm-tui COMMAND --help).",
    )
    parser.add_argument("path", nargs="?", default=".", help="project directory (default: .)")
    parser.add_argument("--resume", nargs="?", const="", metavar="ID", help="reopen a saved session (newest if no ID)")
    _trust_flag(parser)
    _model_flags(parser)
    return parser


def load(args: argparse.Namespace) -> Any:
    from rlm_tui import redact
    from rlm_tui.config import ConfigError, load_settings

    flags = {k: getattr(args, k, None) for k in ("model", "sub_model", "api_base", "max_iterations",
                                                  "max_lm_calls", "max_tokens", "max_cost_usd", "max_seconds")}
    config = getattr(args, "config", None)
    if config is not None and not config.is_file():
        raise UsageError(f"--config {config}: {'is a directory' if config.is_dir() else 'no such file'}")
    try:
        if getattr(args, "router", None) is not None:
            from rlm_tui.config import load_router_file

            flags["router"] = load_router_file(args.router)
        settings = load_settings(config, **flags)
    except ConfigError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot read the config file: {e.strerror or e}") from None
    if settings.api_key is not None:
        redact.register(settings.api_key.get_secret_value())
    enabled = [*settings.skills, *getattr(args, "skill", [])]
    off = set(getattr(args, "no_skill", []))
    return settings.with_overrides(skills=[name for name in dict.fromkeys(enabled) if name not in off])


def project_dir(path: str) -> Path:
    project = Path(path).expanduser()
    if not project.exists():
        raise UsageError(f"project directory {path!r} does not exist")
    if not project.is_dir():
        raise UsageError(f"project path {path!r} is not a directory")
    return project.resolve()


def trust_project(project: Path, quiet: bool = False) -> None:
    """Record that the user trusts `project`'s skill host code as it is now."""
    from rlm_tui import trust

    code = trust.host_code(project)
    try:
        trust.trust(code)
    except trust.TrustError as e:
        raise UsageError(str(e)) from None
    except OSError as e:
        raise UsageError(f"cannot record the trust in {trust.store_file()}: {e.strerror or e}") from None
    if not quiet and not code.empty:
        err(f"· trusted the host tools of {project}: {', '.join(code.relative(t) for t in code.tools)}")


def trace_target(path: Path | None) -> Path | None:
    """`--trace`'s file, checked writable now (not after the run)."""
    if path is None:
        return None
    path = path.expanduser()
    if path.is_dir():
        raise UsageError(f"--trace {path}: is a directory; give a file path")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as e:
        raise UsageError(f"--trace {path}: cannot write there ({e.strerror or e})") from None
    return path


def check_question(rlm: Any, question: str) -> str:
    """The first input's name; a File input must be an existing file."""
    from rlm_tui.engine.files import RunFiles

    first_input = next(iter(rlm.signature.input_fields))
    kind = RunFiles(rlm.signature).inputs.get(first_input)
    if kind == "list":
        raise UsageError(f"input {first_input!r} takes a list of files; `ask` passes one: use File, not list[File]")
    if kind is not None and not Path(question).expanduser().is_file():
        raise UsageError(f"input {first_input!r} is a File: {question!r} is not a file")
    return first_input


def cmd_ask(args: argparse.Namespace) -> int:
    import asyncio

    from rlm_tui.engine.printer import ProgressPrinter
    from rlm_tui.lm.build import NoModelError
    from rlm_tui.skills import SkillError

    settings = load(args)
    project = project_dir(args.project)
    trace = trace_target(args.trace)
    if args.trust:
        trust_project(project, args.quiet)
    from rlm_tui.local.default import offline_default

    if (chosen := offline_default(settings)) is not None:
        settings = chosen.settings
        err(f"rlm-tui: {chosen.notice}")
    try:
        from rlm_tui.engine.rlm import RLM
        from rlm_tui.lm.client import LMError

        rlm = RLM.from_settings(settings, args.signature, project=project,
                                on_event=ProgressPrinter(quiet=args.quiet), trace=trace)
    except (NoModelError, SkillError, ValueError) as e:
        raise UsageError(str(e)) from None
    for note in rlm.skills.notes:
        err(f"! {note}")
    if not args.quiet:
        for hidden, winner in rlm.skills.catalogue.shadowed:
            err(f"· skill {winner.name!r}: using {winner.source} (over {hidden.source})")
    first_input = check_question(rlm, args.question)
    try:
        if rlm.lm is not None:  # from_settings always gives one; the library may leave it to dspy
            rlm.lm.check_credentials()
        prediction = asyncio.run(rlm.aforward(**{first_input: args.question}))
    except LMError as e:
        err(f"rlm-tui: {e}")
        return EXIT_FAILED
    except TypeError as e:
        raise UsageError(str(e)) from None
    from rlm_tui.engine.outputs import jsonable

    outputs = {name: jsonable(prediction[name]) for name in rlm.signature.output_fields}
    if args.json:
        from rlm_tui.engine.citations import extract_citations

        cited = "\n".join(v if isinstance(v, str) else json.dumps(v, default=str) for v in outputs.values())
        citations = [c.to_dict() for c in extract_citations(cited, project)]
        say(json.dumps({"outputs": outputs, "usage": prediction.usage.to_dict(), "partial": prediction.partial,
                        "budget_exhausted": prediction.budget_exhausted, "citations": citations},
                       indent=2, default=str))
    else:
        for name, value in outputs.items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            say(text if len(outputs) == 1 else f"{name}: {text}")
    if prediction.partial:
        err(f"rlm-tui: partial answer ({prediction.budget_exhausted} budget exhausted)")
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from rlm_tui.engine.replay import summarize
    from rlm_tui.engine.trace import TraceError, read_trace

    try:
        events = read_trace(args.file)
    except TraceError as e:
        raise UsageError(str(e)) from None
    if not events:
        raise UsageError(f"{args.file}: no trace events in it")
    if not args.summary and sys.stdout.isatty():
        from rlm_tui.config import load_settings
        from rlm_tui.tui.app import make_app
        from rlm_tui.tui.run_app import run_app

        run_app(make_app(load_settings(), Path("."), replay=args.file))
        return EXIT_OK
    say(summarize(events))
    return EXIT_OK


def cmd_trust(args: argparse.Namespace) -> int:
    from rlm_tui import trust

    if args.list:
        for trusted, record in sorted(trust.records().items()):
            say(f"{trusted}  ({', '.join(record.get('tools', []))}; since {record.get('trusted_at', '?')})")
        return EXIT_OK
    project = project_dir(args.project)
    if args.untrust:
        say(f"{project}: {'no longer trusted' if trust.untrust(project) else 'was not trusted'}")
        return EXIT_OK
    code = trust.host_code(project)
    if code.empty:
        say(f"{project}: nothing to trust (no skill in .rlm/skills has a tools.py)")
        return EXIT_OK
    trust_project(project, quiet=True)
    say(f"{project}: trusted. These run on this machine when their skills load:")
    for path in code.tools:
        say(f"  {code.relative(path)}")
    say(f"(sha256 {code.digest} over {len(code.files)} file(s); a change asks again)")
    return EXIT_OK


def cmd_doctor(args: argparse.Namespace) -> int:
    from rlm_tui.config import config_file
    from rlm_tui.doctor import format_checks, key_checks, model_checks, offline_checks
    from rlm_tui.sandbox.doctor import doctor_report
    from rlm_tui.sandbox.image import ImageError

    settings = load(args)
    say(format_checks([*model_checks(settings, os.environ, args.config or config_file()),
                       *key_checks(os.environ), *offline_checks()]))
    try:
        report = doctor_report(progress=err)
    except ImageError as e:
        err(f"rlm-tui doctor: {e}")
        return EXIT_FAILED
    say(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_models(args: argparse.Namespace) -> int:
    from rlm_tui.local.commands import models_command

    return models_command(args.action, args.name)


def cmd_eval(args: argparse.Namespace) -> int:
    from rlm_tui.eval.command import run_command
    from rlm_tui.eval.runner import EvalError
    from rlm_tui.lm.build import NoModelError

    try:
        return run_command(args, load(args))
    except (EvalError, NoModelError) as e:
        raise UsageError(str(e)) from None


def protocol_settings(args: argparse.Namespace) -> Any:
    """Settings for a protocol server, checked before the client is served: no model or a missing
    key is a usage error on stderr, not a failure on the client's first question."""
    from rlm_tui.lm.build import NoModelError, build_lms
    from rlm_tui.lm.client import LMError

    settings = load(args)
    try:
        root, sub, roles = build_lms(settings)
        for lm in (root, sub, *roles.values()):
            lm.check_credentials()
    except (NoModelError, LMError) as e:
        raise UsageError(str(e)) from None
    return settings


def cmd_mcp(args: argparse.Namespace) -> int:
    from rlm_tui.skills import SkillError, discover, select

    project = project_dir(args.project)
    settings = protocol_settings(args)
    try:
        select(discover(project, []), settings.skills)
    except SkillError as e:
        raise UsageError(str(e)) from None
    from rlm_tui.protocols.mcp_server import serve

    serve(settings, project)
    return EXIT_OK


def cmd_acp(args: argparse.Namespace) -> int:
    settings = protocol_settings(args)
    from rlm_tui.protocols.acp_agent import serve

    serve(settings)
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from rlm_tui.serve import AppFlags, TabServer, app_command
    except ImportError:
        raise UsageError("`rlm-tui serve` needs textual-serve: pip install 'rlm-tui[serve]'") from None
    project = project_dir(args.path)
    settings = load(args)  # a bad config file or flag is a usage error now, not in every tab
    if args.model is not None:
        from rlm_tui.lm.model_check import model_problem

        if (problem := model_problem(args.model, settings)) is not None:
            raise UsageError(f"--model: {problem}")
    flags = AppFlags(model=args.model, api_base=args.api_base, config=args.config)
    TabServer(app_command(project, flags), host=args.host, port=args.port, title=f"rlm-tui {project}").serve()
    return EXIT_OK


def cmd_tui(argv: list[str]) -> int:
    args = build_tui_parser().parse_args(argv)
    settings = load(args)
    project = project_dir(args.path)
    if args.skill:  # names given here are checked now (~0.1 s); config's are checked by the session
        check_skills(project, settings.skills)
    if args.trust:
        trust_project(project)
    from rlm_tui.local.default import offline_default
    from rlm_tui.tui.app import make_app
    from rlm_tui.tui.run_app import run_app

    chosen = offline_default(settings)
    if chosen is not None:
        settings = chosen.settings
    run_app(make_app(settings, project, resume=args.resume, offline_default=chosen.model if chosen else None,
                     config_path=getattr(args, "config", None)))
    return EXIT_OK  # `run` then ends the process: blocking work still in threads ends with it


def check_skills(project: Path, names: list[str]) -> None:
    """Skills that do not exist or cannot be read are usage errors before the TUI starts (no
    host code is run for this check)."""
    from rlm_tui.skills import SkillError, discover, select

    try:
        select(discover(project, host_tools=False), names)
    except SkillError as e:
        raise UsageError(str(e)) from None


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    argv = sys.argv[1:] if argv is None else argv
    try:
        if not argv or argv[0] not in COMMANDS:
            return cmd_tui(argv)
        args = build_parser().parse_args(argv)
        handler = {"ask": cmd_ask, "replay": cmd_replay, "doctor": cmd_doctor, "serve": cmd_serve,
                   "models": cmd_models, "eval": cmd_eval, "trust": cmd_trust, "mcp": cmd_mcp,
                   "acp": cmd_acp}[args.command]
        return handler(args)
    except UsageError as e:
        err(f"rlm-tui: {e}")
        return EXIT_USAGE
    except KeyboardInterrupt:
        err("rlm-tui: interrupted")
        return EXIT_INTERRUPTED


def run() -> None:
    """The console script: `main`, then an exit that wasmtime's threads cannot turn into an abort."""
    from rlm_tui.process_exit import exit_process

    exit_process(main())


if __name__ == "__main__":
    run()
