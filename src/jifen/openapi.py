"""Write the OpenAPI document (`make openapi`) or check that the committed one is current."""

from __future__ import annotations

import json
import secrets
import sys
from pathlib import Path

from pydantic import SecretStr

from jifen.app import create_app
from jifen.settings import Settings

SPEC_PATH = Path("openapi/openapi.json")


def render() -> str:
    # a throwaway key: rendering the spec must not make (or need) the install's key file
    settings = Settings(
        env="test",
        database_url="postgresql://unused/unused",
        secret_key=SecretStr(secrets.token_urlsafe(48)),
    )
    app = create_app(settings)
    return json.dumps(app.openapi(), ensure_ascii=False, indent=2, sort_keys=False) + "\n"


def main(argv: list[str]) -> int:
    spec = render()
    if "--check" in argv:
        if not SPEC_PATH.exists() or SPEC_PATH.read_text(encoding="utf-8") != spec:
            sys.stderr.write("openapi/openapi.json is stale: run `make openapi` and commit it\n")
            return 1
        return 0
    SPEC_PATH.parent.mkdir(parents=True, exist_ok=True)
    SPEC_PATH.write_text(spec, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
