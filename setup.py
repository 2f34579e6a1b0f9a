"""Build script; all metadata lives in setup.cfg.

The one C extension, ``deepprune_cli.core._native``, speeds up shuffling, FASTA reading and the CPU
models' first layer. It is optional: where it cannot be compiled, the install still succeeds and the
numba kernels it ports run instead (``deepprune --version`` says which).
"""

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

OPENMP = ["-fopenmp"]


class BuildExtOpenMP(build_ext):
    """Build with OpenMP where the compiler has it (the first layer then runs on torch's own
    OpenMP threads, see _first_layer.c); else build again without it (POSIX threads)."""

    def build_extension(self, ext):
        try:
            super().build_extension(ext)
        except Exception:  # noqa: BLE001 - any compiler or linker failure: retry without OpenMP
            if not any(flag in OPENMP for flag in ext.extra_compile_args):
                raise
            ext.extra_compile_args = [f for f in ext.extra_compile_args if f not in OPENMP]
            ext.extra_link_args = [f for f in ext.extra_link_args if f not in OPENMP]
            super().build_extension(ext)


setup(
    cmdclass={"build_ext": BuildExtOpenMP},
    ext_modules=[
        Extension(
            "deepprune_cli.core._native",
            sources=["deepprune_cli/core/_native.c", "deepprune_cli/core/_first_layer.c"],
            extra_compile_args=["-O3", "-std=c11", "-pthread", *OPENMP],
            extra_link_args=["-pthread", *OPENMP],
            optional=True,
        )
    ]
)
