"""``chainml serve``: the scoring service (FastAPI + uvicorn), see ``docs/service.md``."""

from __future__ import annotations

from typing import Annotated

import typer

from chainml.cli import console, settings_of
from chainml.config import Settings
from chainml.errors import InvalidInputError
from chainml.governance.registry import DEFAULT_USE


def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", metavar="ID", help="Serve this stored model (no registry, no hot swap)."
        ),
    ] = None,
    use: Annotated[
        str, typer.Option(help="Serve the model the registry approves for this use.")
    ] = DEFAULT_USE,
    anchor_every: Annotated[
        int, typer.Option(min=1, help="Anchor when this many decisions wait...")
    ] = 10_000,
    anchor_seconds: Annotated[
        float, typer.Option(min=0.01, help="...or when the oldest waited this long (s).")
    ] = 60.0,
    no_anchor: Annotated[
        bool, typer.Option("--no-anchor", help="Log decisions but do not anchor them.")
    ] = False,
    api_key: Annotated[
        list[str] | None,
        typer.Option(
            "--api-key",
            metavar="KEY",
            help="An API key for the write endpoints (repeatable; also $CHAINML_API_KEYS).",
        ),
    ] = None,
    public_reads: Annotated[
        bool,
        typer.Option(
            "--public-reads/--private-reads", help="Whether read endpoints need an API key."
        ),
    ] = True,
    max_batch: Annotated[
        int, typer.Option(min=1, help="Records per /v1/score/batch request (413 beyond).")
    ] = 10_000,
    read_timeout: Annotated[
        float,
        typer.Option(
            min=0.01,
            help="Seconds a client has to send a request's headers, and each part of its body "
            "(then 408 and the connection is closed).",
        ),
    ] = 10.0,
    max_proof_jobs: Annotated[
        int,
        typer.Option(
            min=1, help="zk proof jobs that may wait behind the running one (503 beyond)."
        ),
    ] = 4,
) -> None:
    """Run the scoring API: score, log every decision durably, anchor, hand out receipts.

    Listens on 127.0.0.1 unless --host says otherwise; a port that is taken is exit 4, before
    anything starts. Stop it with Ctrl-C (SIGINT) or SIGTERM: requests in flight are answered
    and their decisions logged first.
    """
    try:
        from chainml.service import ServiceOptions, create_app
        from chainml.service.options import api_keys_from
        from chainml.service.runtime import check_options
        from chainml.service.server import bind, run_server, tune_interpreter
    except ImportError as err:
        raise InvalidInputError(
            f"the service needs the 'serve' extra ({err.name} is missing): "
            "pip install 'chainml[serve]'"
        ) from err
    settings = settings_of(ctx)
    options = ServiceOptions(
        use=use,
        model_id=model,
        anchor=not no_anchor,
        anchor_every=anchor_every,
        anchor_seconds=anchor_seconds,
        api_keys=api_keys_from(tuple(api_key or ())),
        public_reads=public_reads,
        max_batch=max_batch,
        max_commit=max(max_batch, 50_000),
        read_timeout=read_timeout,
        max_proof_jobs=max_proof_jobs,
    )
    check_options(options)
    listening = bind(host, port)  # a busy port fails here, before the log or model is opened
    try:
        app = create_app(settings, options)
    except BaseException:
        listening.close()
        raise
    runtime = app.state.runtime
    current = runtime.slot.current
    serving = current.model_id if current else f"none yet (waiting for an approval for {use!r})"
    anchoring = "off" if no_anchor else f"every {anchor_every} decisions or {anchor_seconds:g} s"
    console().print(
        f"chainml serve on http://{host}:{port} (OpenAPI at /docs)\n"
        f"model     {serving}{' (pinned)' if model else f' for {use!r}, following the registry'}\n"
        f"log       {_log_place(settings)}: {runtime.log.store.size} decisions\n"
        f"anchoring {anchoring} on the {settings.backend} chain",
        markup=False,
    )
    tune_interpreter()  # this process is only the server (the library never does this)
    run_server(app, host, port, sock=listening)


def _log_place(settings: Settings) -> str:
    """Where the log is, for the banner (a PostgreSQL URL without its password)."""
    if settings.log_url is None:
        return str(settings.data_dir / "decisions.sqlite")
    from chainml.log.postgres_schema import redacted

    return redacted(settings.log_url)
