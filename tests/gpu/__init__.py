from pathlib import Path

import pytest

# No NVIDIA driver device nodes: what CI and the development machines are.
CPU_ONLY = not Path("/dev/nvidiactl").exists()
cpu_only = pytest.mark.skipif(not CPU_ONLY, reason="this host has an NVIDIA GPU")
