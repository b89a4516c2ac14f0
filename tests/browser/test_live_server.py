"""The browser tests' live server closes what a response opened even when
its client resets the connection (Chromium cancels requests it no longer
wants): an asset's file left open was a ResourceWarning, an error in this
suite, in whichever test the garbage collector next ran."""

from __future__ import annotations

import gc
import socket
import struct
import time
from urllib.parse import urlsplit


def test_an_asset_requested_and_abandoned_leaves_no_file_open(live_server):
    port = urlsplit(live_server).port
    for n in range(300):
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"GET /assets/govuk-frontend.min.css HTTP/1.1\r\nHost: test\r\n\r\n")
        time.sleep(0.002 * (n % 5))
        # close with a reset, as a browser abandoning the request does
        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.close()
    time.sleep(0.5)
    gc.collect()  # an unclosed file warns here, and the suite makes that an error
