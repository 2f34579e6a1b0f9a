"""Build script; all metadata lives in setup.cfg.

The one C extension, ``deepprune_cli.core._native``, speeds up shuffling and FASTA reading. It is
optional: where it cannot be compiled, the install still succeeds and the numba kernels it ports run
instead (``deepprune --version`` says which).
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "deepprune_cli.core._native",
            sources=["deepprune_cli/core/_native.c"],
            extra_compile_args=["-O3", "-std=c11", "-pthread"],
            extra_link_args=["-pthread"],
            optional=True,
        )
    ]
)
