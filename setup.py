"""Build of the compiled part of corral (``corral._native``, ``corral._engine``: C files, Python headers only; see
docs/NATIVE.md). Everything else is configured in pyproject.toml."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension("corral._native", ["src/corral/_native.c"], depends=["src/corral/_buf.h"],
                  extra_compile_args=["-O3", "-std=c99"]),
        Extension("corral._engine", ["src/corral/_engine.c"], depends=["src/corral/_buf.h"],
                  extra_compile_args=["-O3", "-std=c99"]),
    ],
)
