"""A tiny HTTP backend for the examples: answers every GET with its version.

    python3 Deploy/examples/backend.py 127.0.0.2 8080 v1
"""
import http.server
import sys


def main() -> None:
    address, port, version = sys.argv[1], int(sys.argv[2]), sys.argv[3]

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = f"helloworld {version}\n".encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    http.server.ThreadingHTTPServer((address, port), Handler).serve_forever()


if __name__ == "__main__":
    main()
