"""An SMTP receiver for dq's tests (aiosmtpd): each mail it accepts is appended to --out as
one JSON line (from, to, data, tls, auth). With --cert/--key it offers STARTTLS and requires it;
with --user/--password it requires AUTH with them. Prints "ready" once it listens; stops when
its stdin closes."""
import argparse
import warnings
import json
import ssl
import sys

warnings.simplefilter("ignore")

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

p = argparse.ArgumentParser()
p.add_argument("--port", type=int, required=True)
p.add_argument("--out", required=True)
p.add_argument("--cert")
p.add_argument("--key")
p.add_argument("--user")
p.add_argument("--password")
a = p.parse_args()


class Handler:
    async def handle_DATA(self, server, session, envelope):
        auth = session.auth_data
        record = {
            "from": envelope.mail_from,
            "to": envelope.rcpt_tos,
            "data": envelope.content.decode("utf-8", "replace"),
            "tls": session.ssl is not None,
            "auth": auth.login.decode() if isinstance(auth, LoginPassword) else None,
        }
        with open(a.out, "a") as f:
            f.write(json.dumps(record) + "\n")
        return "250 OK"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = (
        isinstance(auth_data, LoginPassword)
        and auth_data.login.decode() == a.user
        and auth_data.password.decode() == a.password
    )
    return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)


options = {}
if a.cert:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(a.cert, a.key)
    options.update(tls_context=context, require_starttls=True)
if a.user:
    options.update(
        authenticator=authenticator, auth_required=True, auth_require_tls=bool(a.cert)
    )
controller = Controller(Handler(), hostname="127.0.0.1", port=a.port, **options)
controller.start()
print("ready", flush=True)
sys.stdin.read()
controller.stop()
