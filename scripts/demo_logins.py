"""Prints what to try once `make demo` serves: the URL, a partner key, a person's token."""

import json
import sys
from pathlib import Path

demo, url = Path(sys.argv[1]), sys.argv[2]
partner = json.loads((demo / "partner.json").read_text())
consumer = json.loads((demo / "consumer.json").read_text())
user = consumer["user_id"]
key, token = partner["api_key"], consumer["token"]
print(f"""
pentascore is serving the demo population at {url} (OpenAPI: {url}/docs)

  web: {url}/app (sign in with the person's token), {url}/partner (the partner key),
       {url}/ops (operator token: dev-operator-token, dev mode)

  partner "{partner["name"]}"  X-API-Key: {key}
  person {user}  Authorization: Bearer {token}

Try, in another terminal:
  # the person's own score and its five dimensions
  curl -s -H 'Authorization: Bearer {token}' {url}/v1/me/score
  # the hotel asks to read it; refused until the person grants
  curl -s -X POST -H 'X-API-Key: {key}' -H 'Content-Type: application/json' \\
       -d '{{"user_id": "{user}", "purpose": "hotel", "scope": "score+dimensions"}}' \\
       {url}/v1/authorizations
  curl -s -H 'X-API-Key: {key}' '{url}/v1/scores/{user}?purpose=hotel'
  # the person grants (put the authorization_id printed above), then the read works
  curl -s -X POST -H 'Authorization: Bearer {token}' {url}/v1/me/authorizations/AUTH_ID/grant
  # and the person sees who looked
  curl -s -H 'Authorization: Bearer {token}' {url}/v1/me/inquiries
""")
