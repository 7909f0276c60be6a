"""Schemathesis checks of GePI's answers, loaded by tools/fuzz/run through
SCHEMATHESIS_HOOKS.

Schemathesis's own `not_a_server_error` counts every GraphQL error at a path as
a server failure; GePI answers a refused input there on purpose (`VALIDATION`
with `extensions.field`, `NOT_FOUND`, `CONFLICT`...). What GePI promises is
narrower and checked here: no HTTP 5xx (the database is up during the run, so
not even `UNAVAILABLE`), and every error carries a stable `extensions.code`
that is not `INTERNAL`.
"""
import schemathesis


@schemathesis.check
def gepi_no_server_error(ctx, response, case):
    if response.status_code >= 500:
        raise AssertionError(f"HTTP {response.status_code}: {response.text[:300]}")
    try:
        body = response.json()
    except Exception:
        raise AssertionError(f"an answer that is not JSON (HTTP {response.status_code})")
    for e in (body or {}).get("errors") or []:
        code = ((e or {}).get("extensions") or {}).get("code")
        if code is None or code == "INTERNAL":
            raise AssertionError(f"an error with code {code!r}: {(e or {}).get('message')}")
    return None
