"""Running chunks of numpy work on both cores (numpy releases the GIL in its loops)."""
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def map_in_threads(func: Callable[[T], R], items: Iterable[T], workers: int = 2) -> list[R]:
    """``[func(item) for item in items]`` on ``workers`` threads, in order.

    On Ctrl-C the queued chunks are cancelled, so the command stops at once instead of
    finishing the work in the background.
    """
    executor = ThreadPoolExecutor(max_workers=workers)
    try:
        return list(executor.map(func, items))
    except BaseException:
        executor.shutdown(wait=False, cancel_futures=True)
        raise
    finally:
        executor.shutdown(wait=True)
