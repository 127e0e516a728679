"""A tiny HTTP backend for the end-to-end tests: answers every GET with a fixed text, over TLS when given a
certificate and key (PEM files).

Usage: python backend.py HOST PORT TEXT [CERT KEY]
"""

import ssl
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main() -> None:
    host, port, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    body = text.encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args) -> None:  # noqa: A002
            sys.stderr.write("%s %s\n" % (self.address_string(), format % args))

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    if len(sys.argv) == 6:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[4], sys.argv[5])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    print(f"{text!r} listening on {host}:{port}" + (" (TLS)" if len(sys.argv) == 6 else ""), flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
