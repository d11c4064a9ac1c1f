"""Transform and training on a Dask cluster (the ``[dask]`` extra).

One ``distributed.LocalCluster`` (2 worker processes, loopback only) serves
the whole module: transform under ``joblib.parallel_config(backend="dask")``,
streaming training with ``dask_ml.wrappers.Incremental`` and block-wise
transform of a dask array must give what the in-process estimator gives.
"""

import dask.array as da
import joblib
import numpy as np
import pytest
from dask_ml.wrappers import Incremental, ParallelPostFit
from distributed import Client, LocalCluster, get_task_stream
from numpy.testing import assert_allclose, assert_array_equal

from sklearn_lista import (
    FacNetCoder,
    FISTACoder,
    ISTACoder,
    LFISTACoder,
    LISTACoder,
)
from sklearn_lista.datasets import alpha_max, make_sparse_coding

# More rows than one chunk of transform (1024), so the work is split.
N_SAMPLES = 2500


@pytest.fixture(scope="module")
def client():
    cluster = LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = Client(cluster)
    yield client
    client.close()
    cluster.close()


@pytest.fixture(scope="module")
def data():
    X, dictionary, _ = make_sparse_coding(
        N_SAMPLES, n_components=30, n_features=20, density=0.1, random_state=0
    )
    return X, dictionary, 0.1 * alpha_max(X, dictionary)


def _worker_addresses(task_stream):
    return {task["worker"] for task in task_stream.data}


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    "make_coder",
    [
        lambda D, alpha: ISTACoder(D, alpha=alpha, n_layers=30),
        lambda D, alpha: FISTACoder(D, alpha=alpha, n_layers=500, tol=1e-6),
        lambda D, alpha: LISTACoder(D, alpha=alpha, n_layers=4, max_iter=2),
        lambda D, alpha: FacNetCoder(D, alpha=alpha, n_layers=2, max_iter=1),
    ],
    ids=["ista", "fista-tol", "lista", "facnet"],
)
def test_transform_on_dask_cluster_is_identical(client, data, make_coder):
    X, dictionary, alpha = data
    coder = make_coder(dictionary, alpha).set_params(random_state=0)
    coder.fit(X[:500])
    expected = coder.set_params(n_jobs=1).transform(X)

    coder.set_params(n_jobs=None)
    with get_task_stream(client) as tasks:
        with joblib.parallel_config(backend="dask"):
            codes = coder.transform(X)

    assert_array_equal(codes, expected)
    # The chunks really ran on the cluster's worker processes.
    assert _worker_addresses(tasks) <= set(client.scheduler_info()["workers"])
    assert len(tasks.data) >= 1
    assert len(_worker_addresses(tasks)) >= 1


def test_incremental_partial_fit_streams_blocks(client, data):
    X, dictionary, alpha = data
    X_dask = da.from_array(X, chunks=(500, X.shape[1]))
    template = LISTACoder(dictionary, alpha=alpha, n_layers=3, batch_size=100)

    with get_task_stream(client) as tasks:
        streamed = Incremental(template, shuffle_blocks=False).fit(X_dask)
    assert len(tasks.data) >= X_dask.numblocks[0]

    # The same blocks, in order, through partial_fit in this process.
    local = LISTACoder(dictionary, alpha=alpha, n_layers=3, batch_size=100)
    for block in X_dask.blocks:
        local.partial_fit(block.compute())

    fitted = streamed.estimator_
    assert fitted.n_iter_ == local.n_iter_ == X_dask.numblocks[0]
    assert_array_equal(fitted.weights_x_, local.weights_x_)
    assert_array_equal(fitted.weights_z_, local.weights_z_)
    assert_array_equal(fitted.thresholds_, local.thresholds_)
    assert fitted.loss_curve_ == local.loss_curve_
    # Training improved on ISTA's cost at the same depth.
    ista = ISTACoder(dictionary, alpha=alpha, n_layers=3).fit(X)
    assert fitted.score(X) > ista.score(X)

    # Post-fit transform of the dask array, block by block on the workers:
    # the same bits as encoding the same blocks here (a different split of
    # the rows may round differently: the sparse/dense path is per block).
    codes = streamed.transform(X_dask)
    assert isinstance(codes, da.Array)
    blockwise = np.concatenate([local.transform(b) for b in X_dask.blocks])
    assert_array_equal(codes.compute(), blockwise)
    assert_allclose(blockwise, local.transform(X), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fitted", [True, False])
def test_transform_of_a_dask_array_is_lazy_with_the_codes_chunks(client, data, fitted):
    X, dictionary, alpha = data
    coder = FISTACoder(dictionary, alpha=alpha, n_layers=50)
    if fitted:
        coder.fit(X[:200])
    # Features split in two blocks: the codes still have one column block.
    X_dask = da.from_array(X, chunks=(700, 10))
    codes = coder.transform(X_dask)
    assert isinstance(codes, da.Array)
    assert codes.shape == (N_SAMPLES, dictionary.shape[0])
    assert codes.chunks == (X_dask.chunks[0], (dictionary.shape[0],))
    assert codes.dtype == X.dtype
    computed = codes.compute()
    assert computed.shape == codes.shape
    blockwise = np.concatenate(
        [
            coder.transform(X[rows])
            for rows in np.split(np.arange(N_SAMPLES), [700, 1400, 2100])
        ]
    )
    assert_array_equal(computed, blockwise)


def test_parallel_post_fit_transform_of_dask_array(client, data):
    X, dictionary, alpha = data
    coder = FISTACoder(dictionary, alpha=alpha, n_layers=50)
    wrapped = ParallelPostFit(coder).fit(X[:200])
    X_dask = da.from_array(X, chunks=(700, X.shape[1]))

    with get_task_stream(client) as tasks:
        codes = wrapped.transform(X_dask).compute()

    assert len(tasks.data) >= X_dask.numblocks[0]
    assert codes.shape == (N_SAMPLES, dictionary.shape[0])
    coder.fit(X[:200])
    blockwise = np.concatenate([coder.transform(b) for b in X_dask.blocks])
    assert_array_equal(codes, blockwise)
    assert_allclose(codes, coder.transform(X), rtol=1e-12, atol=1e-12)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_codes_do_not_depend_on_blas_threads():
    # What lets a worker with one BLAS thread (a joblib thread, a Dask worker)
    # return the codes of a caller with several: D @ D.T by SYRK rounds
    # differently with 1 and 2 threads at this size, GEMM does not.
    from threadpoolctl import threadpool_limits

    X, dictionary, _ = make_sparse_coding(1500, random_state=0)
    alpha = 0.1 * alpha_max(X, dictionary)
    for coder in (
        FISTACoder(dictionary, alpha=alpha, n_layers=30),
        ISTACoder(dictionary, alpha=alpha, n_layers=30, tol=1e-4),
        LISTACoder(dictionary, alpha=alpha, n_layers=4, max_iter=1),
        LFISTACoder(dictionary, alpha=alpha, n_layers=4, max_iter=1),
        FacNetCoder(dictionary, alpha=alpha, n_layers=2, max_iter=1),
    ):
        coder.fit(X[:300])
        with threadpool_limits(limits=2, user_api="blas"):
            many = coder.transform(X)
        with threadpool_limits(limits=1, user_api="blas"):
            one = coder.transform(X)
        assert_array_equal(one, many)
