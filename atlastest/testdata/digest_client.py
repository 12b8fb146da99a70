"""An independent client for the reference server: Python's standard library
only (urllib's digest handler and a hand-made OAuth2 token request).

Usage: digest_client.py BASE_URL ORG PUBLIC PRIVATE CLIENT_ID CLIENT_SECRET KEY1 KEY2 ACCEPT
ACCEPT is the versioned Accept value every API request needs.
Prints one line per call: "<name> <status> <errorCode or ->".
"""
import base64
import json
import sys
import urllib.error
import urllib.request

base, org, public, private, client_id, client_secret, key1, key2, accept = sys.argv[1:10]


def digest_opener(user, password):
    mgr = urllib.request.HTTPPasswordMgrWithDefaultRealm()
    mgr.add_password(None, base, user, password)
    return urllib.request.build_opener(urllib.request.HTTPDigestAuthHandler(mgr))


def delete(opener, name, key, query=""):
    req = urllib.request.Request(f"{base}/api/atlas/v2/orgs/{org}/apiKeys/{key}{query}", method="DELETE",
                                 headers={"Accept": accept})
    try:
        with opener.open(req) as resp:
            status, body = resp.status, resp.read()
    except urllib.error.HTTPError as err:
        status, body = err.code, err.read()
    code = json.loads(body).get("errorCode", "-") if body else "-"
    print(name, status, code)


owner = digest_opener(public, private)
delete(owner, "digest-delete", key1)
delete(owner, "digest-again", key1)

token_req = urllib.request.Request(base + "/api/oauth/token", data=b"grant_type=client_credentials", method="POST")
basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
token_req.add_header("Authorization", "Basic " + basic)
token_req.add_header("Content-Type", "application/x-www-form-urlencoded")
with urllib.request.urlopen(token_req) as resp:
    token = json.loads(resp.read())
print("token", token["token_type"], token["expires_in"])

bearer = urllib.request.build_opener()
bearer.addheaders = [("Authorization", "Bearer " + token["access_token"])]
delete(bearer, "bearer-delete", key2)
delete(bearer, "bearer-again", key2)
delete(bearer, "bearer-malformed", key2.upper())
