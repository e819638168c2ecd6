"""`abs serve`, `abs db upgrade`, `abs token create`: run and administer the control plane on this machine."""

from __future__ import annotations

import argparse

from cli import embedded
from services.settings import load_settings


def add_commands(commands: argparse._SubParsersAction) -> None:
    serve_parser = commands.add_parser(
        "serve", help="run the service here: a local Ray head, the API and the dispatcher (or --api-only)"
    )
    embedded.add_serve_arguments(serve_parser)
    serve_parser.set_defaults(
        handler=lambda args: serve(args.host, args.port) if args.api_only else embedded.serve_embedded(args)
    )

    db = commands.add_parser("db", help="the control-plane database").add_subparsers(
        dest="db_command", required=True
    )
    upgrade = db.add_parser("upgrade", help="apply pending migrations to AB_DATABASE_URL")
    upgrade.set_defaults(handler=lambda args: db_upgrade())

    token = commands.add_parser("token", help="API tokens").add_subparsers(
        dest="token_command", required=True
    )
    create = token.add_parser("create", help="create an API token and print it (shown once)")
    create.add_argument("--owner", required=True, help="whose jobs the token submits and sees")
    create.add_argument("--admin", action="store_true", help="may see every owner's jobs")
    create.set_defaults(handler=lambda args: token_create(args.owner, args.admin))


def serve(host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serve the API until interrupted; a database that is down gives 503s, not a crash."""
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(load_settings()), host=host, port=port, log_level="info")
    return 0


def db_upgrade() -> int:
    """Bring AB_DATABASE_URL to the newest migration and say where it is."""
    from services import migrate
    from services.db import Database

    settings = load_settings()
    db = Database.from_url(settings.database_url, pool_size=1)
    try:
        migrate.upgrade(db.engine)
        revision = migrate.current_revision(db.engine)
    finally:
        db.dispose()
    print(f"{db.engine.url.render_as_string(hide_password=True)} is at migration {revision}")
    return 0


def token_create(owner: str, admin: bool = False) -> int:
    """Create an API token for `owner` (migrating first if needed) and print it."""
    from services.plane import ControlPlane

    plane = ControlPlane.build(load_settings())
    try:
        plane.migrate()
        print(plane.tokens.create(owner, admin=admin))
    finally:
        plane.close()
    return 0
