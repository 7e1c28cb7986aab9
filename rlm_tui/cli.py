"""`rlm-tui`: the TUI by default; `ask` (headless), `replay`, `doctor`, `serve`, `eval`.

Exit codes: 0 answered, 1 failed, 2 usage or configuration error, 3 partial answer (a
budget ran out), 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_PARTIAL, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
COMMANDS = ("ask", "replay", "doctor", "serve", "models", "eval")


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
    _model_flags(ask)

    replay = sub.add_parser("replay", help="open a trace in the read-only replay view (a text summary when piped)")
    replay.add_argument("file", type=Path)
    replay.add_argument("--summary", action="store_true", help="print a text summary instead of opening the TUI")

    sub.add_parser("doctor", help="check the sandbox image, its cache and a measured start")

    models = sub.add_parser("models", help="offline models: list what is installed, pull one")
    models.add_argument("action", choices=("list", "pull"))
    models.add_argument("name", nargs="?", help="model to pull, e.g. qwen2.5-coder-0.5b")

    from rlm_tui.eval.command import add_arguments as eval_arguments

    evaluate = sub.add_parser("eval", help="measure answer quality, cost and time: RLM mode vs direct prompting")
    eval_arguments(evaluate)
    _model_flags(evaluate, turn_cost=False)

    serve = sub.add_parser("serve", help="serve the TUI in a browser (textual-serve)")
    serve.add_argument("path", nargs="?", default=".")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    return parser


def build_tui_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rlm-tui", description="Recursive Language Models over a local project, in the terminal.",
        epilog=f"Other commands: {', '.join(COMMANDS)} (rlm-tui COMMAND --help).",
    )
    parser.add_argument("path", nargs="?", default=".", help="project directory (default: .)")
    parser.add_argument("--resume", nargs="?", const="", metavar="ID", help="reopen a saved session (newest if no ID)")
    _model_flags(parser)
    return parser


def load(args: argparse.Namespace) -> Any:
    from rlm_tui.config import ConfigError, load_settings

    flags = {k: getattr(args, k, None) for k in ("model", "sub_model", "api_base", "max_iterations",
                                                  "max_lm_calls", "max_tokens", "max_cost_usd", "max_seconds")}
    try:
        if getattr(args, "router", None) is not None:
            from rlm_tui.config import load_router_file

            flags["router"] = load_router_file(args.router)
        settings = load_settings(getattr(args, "config", None), **flags)
    except ConfigError as e:
        raise UsageError(str(e)) from None
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


def cmd_ask(args: argparse.Namespace) -> int:
    import asyncio

    from rlm_tui.headless import ProgressPrinter
    from rlm_tui.runtime.models import NoModelError
    from rlm_tui.skills import SkillError

    settings = load(args)
    project = project_dir(args.project)
    from rlm_tui.local.default import offline_default

    if (chosen := offline_default(settings)) is not None:
        settings = chosen.settings
        print(f"rlm-tui: {chosen.notice}", file=sys.stderr)
    try:
        from rlm_tui.lm import LMError
        from rlm_tui.runtime.rlm import RLM

        rlm = RLM.from_settings(settings, args.signature, project=project,
                                on_event=ProgressPrinter(quiet=args.quiet), trace=args.trace)
    except (NoModelError, SkillError, ValueError) as e:
        raise UsageError(str(e)) from None
    if not args.quiet:
        for hidden, winner in rlm.skills.catalogue.shadowed:
            print(f"· skill {winner.name!r}: using {winner.source} (over {hidden.source})", file=sys.stderr)
    first_input = next(iter(rlm.signature.input_fields))
    try:
        rlm.lm.check_credentials()
        prediction = asyncio.run(rlm.aforward(**{first_input: args.question}))
    except LMError as e:
        print(f"rlm-tui: {e}", file=sys.stderr)
        return EXIT_FAILED
    except TypeError as e:
        raise UsageError(str(e)) from None
    from rlm_tui.runtime.outputs import jsonable

    outputs = {name: jsonable(prediction[name]) for name in rlm.signature.output_fields}
    if args.json:
        from rlm_tui.runtime.citations import extract_citations

        cited = "\n".join(v if isinstance(v, str) else json.dumps(v, default=str) for v in outputs.values())
        citations = [c.to_dict() for c in extract_citations(cited, project)]
        print(json.dumps({"outputs": outputs, "usage": prediction.usage, "partial": prediction.partial,
                          "budget_exhausted": prediction.budget_exhausted, "citations": citations},
                         indent=2, default=str))
    else:
        for name, value in outputs.items():
            text = value if isinstance(value, str) else json.dumps(value, default=str)
            print(text if len(outputs) == 1 else f"{name}: {text}")
    if prediction.partial:
        print(f"rlm-tui: partial answer ({prediction.budget_exhausted} budget exhausted)", file=sys.stderr)
        return EXIT_PARTIAL
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from rlm_tui.runtime.replay import summarize
    from rlm_tui.runtime.trace import TraceError, read_trace

    try:
        events = read_trace(args.file)
    except TraceError as e:
        raise UsageError(str(e)) from None
    if not args.summary and sys.stdout.isatty():
        from rlm_tui.config import load_settings
        from rlm_tui.tui.app import make_app

        make_app(load_settings(), Path("."), replay=args.file).run()
        return EXIT_OK
    print(summarize(events))
    return EXIT_OK


def cmd_doctor(_args: argparse.Namespace) -> int:
    from rlm_tui.sandbox.doctor import doctor_report
    from rlm_tui.sandbox.image import ImageError

    try:
        report = doctor_report(progress=lambda m: print(m, file=sys.stderr))
    except ImageError as e:
        print(f"rlm-tui doctor: {e}", file=sys.stderr)
        return EXIT_FAILED
    print(report.format())
    return EXIT_OK if report.ok else EXIT_FAILED


def cmd_models(args: argparse.Namespace) -> int:
    from rlm_tui.local.commands import models_command

    return models_command(args.action, args.name)


def cmd_eval(args: argparse.Namespace) -> int:
    from rlm_tui.eval.command import run_command
    from rlm_tui.eval.runner import EvalError
    from rlm_tui.runtime.models import NoModelError

    try:
        return run_command(args, load(args))
    except (EvalError, NoModelError) as e:
        raise UsageError(str(e)) from None


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from textual_serve.server import Server
    except ImportError:
        raise UsageError("`rlm-tui serve` needs textual-serve: pip install 'rlm-tui[serve]'") from None
    project = project_dir(args.path)
    Server(f"{sys.executable} -m rlm_tui {project}", host=args.host, port=args.port).serve()
    return EXIT_OK


def cmd_tui(argv: list[str]) -> int:
    args = build_tui_parser().parse_args(argv)
    settings = load(args)
    project = project_dir(args.path)
    from rlm_tui.local.default import offline_default
    from rlm_tui.tui.app import make_app

    chosen = offline_default(settings)
    if chosen is not None:
        settings = chosen.settings
    make_app(settings, project, resume=args.resume, offline_default=chosen and chosen.model).run()
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    argv = sys.argv[1:] if argv is None else argv
    try:
        if not argv or argv[0] not in COMMANDS:
            return cmd_tui(argv)
        args = build_parser().parse_args(argv)
        handler = {"ask": cmd_ask, "replay": cmd_replay, "doctor": cmd_doctor, "serve": cmd_serve,
                   "models": cmd_models, "eval": cmd_eval}[args.command]
        return handler(args)
    except UsageError as e:
        print(f"rlm-tui: {e}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("rlm-tui: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
