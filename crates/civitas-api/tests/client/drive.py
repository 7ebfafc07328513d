"""Drives a running Civitas through `civitas_client`, the package that
openapi-python-client generated from docs/openapi.json a moment ago: every
request below goes through generated code; nothing here speaks HTTP itself.

    drive.py BASE_URL PASSWORD  ->  one JSON object on stdout
"""
import json
import sys

from civitas_client import Client
from civitas_client.api.audit import audit_head
from civitas_client.api.incidents import incident, open_incident
from civitas_client.api.review import candidates
from civitas_client.api.session import login
from civitas_client.models import LoginRequest, OpenIncident

base, password = sys.argv[1], sys.argv[2]


def session(user):
    """Logs in; returns a client carrying the session cookie and CSRF token."""
    c = Client(base_url=base, raise_on_unexpected_status=True)
    r = login.sync_detailed(client=c, body=LoginRequest(username=user, password=password))
    if r.status_code != 200:
        sys.exit(f"login as {user}: {r.status_code} {r.content!r}")
    cookies = dict(c.get_httpx_client().cookies)
    return Client(
        base_url=base,
        cookies=cookies,
        headers={"X-CSRF-Token": r.parsed.csrf_token},
        raise_on_unexpected_status=True,
    )


def ok(what, r, status=200):
    """The parsed body of a generated call that answered `status`."""
    if r.status_code != status:
        sys.exit(f"{what}: {r.status_code} {r.content!r}")
    return r.parsed


olga = session("olga")
queue = ok("listing candidates", candidates.sync_detailed(client=olga, limit=50))
opened = ok("opening an incident", open_incident.sync_detailed(
    client=olga,
    body=OpenIncident(
        type_="robbery",
        latitude=-0.2202,
        longitude=-78.5123,
        address="Plaza Grande",
        call_id="generated-client-1",
    ),
), 201)
again = ok("reading the incident", incident.sync_detailed(client=olga, id=opened.id))
aude = session("aude")
head = ok("reading the audit head", audit_head.sync_detailed(client=aude))
json.dump(
    {
        "candidates": [c.id for c in queue],
        "entry_names": sorted({c.entry_name for c in queue}),
        "incident": opened.id,
        "incident_status": str(again.status),
        "incident_type": again.type_id,
        "audit_size": head.head.tree_size,
        "audit_root": head.head.root,
        "audit_public_key": head.public_key,
    },
    sys.stdout,
)
