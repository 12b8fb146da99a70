"""Test code against `smoke serve` with Python's standard library alone.

    go build -o smoke ./cmd/smoke
    python3 cmd/smoke/testdata/example.py ./smoke

It starts the server and reads its JSON line, deletes a key with HTTP Digest
and one with a service account, scripts a 429 then a 204 and a lost answer
through the control API, and reads the request log: one token served every
call. cmd/smoke's tests run this file, so it stays true.
"""
import base64
import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

# -exit-on-stdin-eof: if this script dies, the pipe closes and the server stops.
server = subprocess.Popen([sys.argv[1], "serve", "-addr", "127.0.0.1:0", "-exit-on-stdin-eof"],
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
serve = json.loads(server.stdout.readline())
owner = serve["owner"]


def send(method, url, headers, data=None, opener=urllib.request.build_opener()):
    """Returns the status, headers and JSON body (None if empty); 4xx and 5xx are answers too."""
    try:
        resp = opener.open(urllib.request.Request(url, data=data, method=method, headers=headers))
    except urllib.error.HTTPError as err:
        resp = err
    with resp:
        return resp.status, resp.headers, json.loads(resp.read() or "null")


def control(method, route, body=None):
    """Calls the control API: JSON in and out, no credentials."""
    data = json.dumps(body).encode() if body is not None else None
    return send(method, serve["controlUrl"] + route, {"Content-Type": "application/json"}, data)[2]


def key_url(key):
    return f'{serve["baseUrl"]}/api/atlas/v2/orgs/{serve["orgId"]}/apiKeys/{key}'


def exists(key):
    return control("GET", "/keys/" + key)["exists"]


# HTTP Digest with an API key: urllib's handler answers the 401 challenge.
passwords = urllib.request.HTTPPasswordMgrWithDefaultRealm()
passwords.add_password(None, serve["baseUrl"], owner["publicKey"], owner["privateKey"])
digest = urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(passwords))
key = control("POST", "/keys")["id"]
status, _, _ = send("DELETE", key_url(key), {"Accept": serve["accept"]}, opener=digest)
print(f"digest delete: {status}, exists: {exists(key)}")

# A service account: one token (client id and secret in HTTP Basic), then Bearer.
basic = base64.b64encode(f'{owner["clientId"]}:{owner["clientSecret"]}'.encode()).decode()
form = urllib.parse.urlencode({"grant_type": "client_credentials"}).encode()
_, _, tok = send("POST", serve["tokenUrl"], {"Authorization": "Basic " + basic}, form)
bearer = {"Authorization": "Bearer " + tok["access_token"], "Accept": serve["accept"]}
status, _, _ = send("DELETE", key_url(control("POST", "/keys")["id"]), bearer)
print(f"bearer delete: {status}")

# The next answer is a 429 with Retry-After: 1; the one after it, a 204.
control("POST", "/faults/operation",
        {"failNext": {"count": 1, "status": 429}, "retryAfterSeconds": 1})
key = control("POST", "/keys")["id"]
status, headers, body = send("DELETE", key_url(key), bearer)
print(f'first try: {status} {body["errorCode"]}, Retry-After: {headers["Retry-After"]}')
time.sleep(int(headers["Retry-After"]))
status, _, _ = send("DELETE", key_url(key), bearer)
print(f"after Retry-After: {status}")

# A lost answer: the delete takes effect, then the connection closes unanswered.
control("POST", "/faults/operation", {"dropNext": 1})
key = control("POST", "/keys")["id"]
try:
    send("DELETE", key_url(key), bearer)
except (ConnectionError, urllib.error.URLError):
    print("lost answer: the connection closed")
status, _, body = send("DELETE", key_url(key), bearer)  # the key is gone: already removed
print(f'retry: {status} {body["errorCode"]}, exists: {exists(key)}')

# The request log (method, path, auth, principal, status, dropped, tokenIssued; no secret).
log = control("GET", "/requests")["requests"]
calls = [r for r in log if r["auth"] == "bearer"]
print(f'tokens minted: {sum(r["tokenIssued"] for r in log)}, bearer calls: {len(calls)}, '
      f'all as owner: {all(r["principal"] == "owner" for r in calls)}')

# SIGTERM: requests in flight finish (within 5 s), then the server exits 0.
server.terminate()
print(f"exit status: {server.wait()}")
