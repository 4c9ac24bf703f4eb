"""``python -m gentf_server``: same as ``gentf-worker``."""

import sys

from gentf_server.main import main

sys.exit(main())
