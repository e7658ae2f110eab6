"""Root pytest configuration: notebooks collected by nbval run the `ci` profile in a throw-away run folder.

nbval cannot pass papermill parameters, so the kernel reads them from environment variables
(see helpers.config.resolve). Set here, before any kernel starts, unless the caller set them.
"""

import os
import tempfile

os.environ.setdefault("HELPERS_PROFILE", "ci")
os.environ.setdefault("HELPERS_RUN_DIR", tempfile.mkdtemp(prefix="nbval-ci-"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
