"""Build of the compiled part of corral (``corral._native``, one C file, Python headers only; see docs/NATIVE.md).
Everything else is configured in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("corral._native", ["src/corral/_native.c"], extra_compile_args=["-O3", "-std=c99"]),
    ],
)
