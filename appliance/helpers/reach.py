"""Run in a throwaway container under a user server's network rules: which of the (host, port) pairs given
as JSON in argv[1] open a TCP connection. Prints a JSON list: "open", or why not ("Connection refused",
"timed out"). reach() alone also runs inside users' kernels in the tests, where this package is not installed,
so it needs nothing but `socket`."""

import json
import socket
import sys


def reach(host, port):
    """Whether a TCP connection to host:port opens within 3 s: "open", else why not."""
    try:
        socket.create_connection((host, port), timeout=3).close()
        return "open"
    except TimeoutError:
        return "timed out"
    except OSError as error:
        return error.strerror or type(error).__name__


def main(argv: list[str]) -> None:
    print(json.dumps([reach(host, port) for host, port in json.loads(argv[1])]))


if __name__ == "__main__":
    main(sys.argv)
