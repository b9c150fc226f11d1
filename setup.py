"""Build script for vision_sparse.

Metadata and dependencies live in ``setup.cfg``.  This file only decides which
compiled extension to build:

* ``vision_sparse._C`` with the C++ CPU kernels of every op under
  ``vision_sparse/ops/<op>/`` -- always, when torch is importable at build time;
* plus the CUDA kernels (``*_cuda.cu``) when CUDA is usable or ``FORCE_CUDA=1``.
  ``TORCH_CUDA_ARCH_LIST`` is respected (default here: ``9.0+PTX`` when no GPU is
  visible, so the PTX can be JIT-compiled for newer GPUs).

When torch is not importable (an isolated PEP 517 build) no extension is built and
the package runs on its pure-PyTorch reference ops.  Build the ops with::

    python setup.py build_ext --inplace            # CPU kernels
    FORCE_CUDA=1 python setup.py build_ext --inplace   # + CUDA kernels
"""
import glob
import os
import sys

from setuptools import setup

OPS_DIR = os.path.join('vision_sparse', 'ops')


def _sources(pattern):
    return sorted(glob.glob(os.path.join(OPS_DIR, '*', pattern)))


def _pip_cuda_header_dirs():
    """Header folders of the pip-installed CUDA libraries (``nvidia/*/include``).

    A torch wheel brings cuSPARSE, cuBLAS, ... as pip packages; a minimal CUDA
    toolkit may lack their headers (``ATen/cuda/CUDAContext.h`` needs
    ``cusparse.h``).  They are added through ``CPATH`` so that they are searched
    *after* the toolkit's own include folder: only missing headers come from there.
    """
    import importlib.util
    try:
        spec = importlib.util.find_spec('nvidia')
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    dirs = []
    for root in spec.submodule_search_locations:
        for inc in sorted(glob.glob(os.path.join(root, '*', 'include'))):
            if os.path.isfile(os.path.join(inc, 'cusparse.h')):
                dirs.append(inc)
    return dirs


def get_extensions():
    try:
        import torch
        from torch.utils.cpp_extension import (CUDA_HOME, BuildExtension,
                                               CppExtension, CUDAExtension)
    except ImportError:
        print('vision_sparse: torch is not importable at build time; '
              'skipping the compiled ops (pure-PyTorch references will be used).',
              file=sys.stderr)
        return [], {}

    sources = _sources('*.cpp')
    if not sources:
        return [], {}
    force_cuda = os.environ.get('FORCE_CUDA', '0') == '1'
    with_cuda = (torch.cuda.is_available() and CUDA_HOME is not None) or force_cuda
    define_macros = []
    extra_compile_args = {'cxx': ['-O3', '-std=c++20']}
    extra_link_args = []
    if sys.platform.startswith('linux'):
        # at::parallel_for is a header template: without OpenMP in *our*
        # translation units its `omp parallel` is ignored and every CPU kernel
        # runs on one thread whatever torch.get_num_threads() says
        extra_compile_args['cxx'].append('-fopenmp')
        extra_link_args.append('-fopenmp')
    include_dirs = [os.path.abspath(os.path.join(OPS_DIR, 'csrc'))]
    if with_cuda:
        if CUDA_HOME is None:
            raise RuntimeError('FORCE_CUDA=1 but no CUDA toolkit was found: set CUDA_HOME '
                               '(e.g. CUDA_HOME=/usr/local/cuda).')
        if not torch.cuda.is_available() and not os.environ.get('TORCH_CUDA_ARCH_LIST'):
            os.environ['TORCH_CUDA_ARCH_LIST'] = '9.0+PTX'
        extra = [d for d in _pip_cuda_header_dirs()
                 if not os.path.isfile(os.path.join(CUDA_HOME, 'include', 'cusparse.h'))]
        if extra:
            os.environ['CPATH'] = os.pathsep.join(
                [p for p in os.environ.get('CPATH', '').split(os.pathsep) if p] + extra)
        sources = sources + _sources('*.cu')
        define_macros.append(('WITH_CUDA', None))
        extra_compile_args['nvcc'] = ['-O3', '-std=c++20', '--expt-relaxed-constexpr']
        ext_cls = CUDAExtension
    else:
        ext_cls = CppExtension
    ext = ext_cls(
        name='vision_sparse._C',
        sources=sources,
        include_dirs=include_dirs,
        define_macros=define_macros,
        extra_compile_args=extra_compile_args,
        extra_link_args=extra_link_args,
    )
    return [ext], {'build_ext': BuildExtension.with_options(use_ninja=True)}


ext_modules, cmdclass = get_extensions()
setup(ext_modules=ext_modules, cmdclass=cmdclass)
