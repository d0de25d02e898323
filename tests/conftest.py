"""Fixtures shared by several test modules."""

from __future__ import annotations

import http.server
import threading

import pytest
import torch

import real_data


def pytest_addoption(parser):
    parser.addoption("--data-dir", default=None, metavar="DIR",
                     help="the folder holding the real data sets (mnist/, fsdd/, ...) for the tests that read them; "
                          "default: $RCBENCH_DATA_DIR, else shared/data beside the checkout")


def pytest_configure(config):
    real_data.option_data_dir = config.getoption("--data-dir")


@pytest.fixture
def restore_threads():
    """Put torch's thread count back after a test that sets it (``rcbench run --threads``)."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


class RecordingHandler(http.server.SimpleHTTPRequestHandler):
    """Serves files from the server's ``root``; remembers request paths; logs nothing."""

    def __init__(self, request, client_address, server):
        super().__init__(request, client_address, server, directory=str(server.root))

    def do_GET(self):
        self.server.requests.append(self.path)
        super().do_GET()

    def log_message(self, format, *args):  # noqa: A002  (the base class's signature)
        pass


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving ``tmp_path/www``; yields (root folder, base URL, request list)."""
    root = tmp_path / "www"
    root.mkdir()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RecordingHandler)
    httpd.root, httpd.requests = root, []
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", httpd.requests
    httpd.shutdown()
    httpd.server_close()
    thread.join()
