"""Running tasks in real worker processes: conventions, capture and failures."""

from __future__ import annotations

from pathlib import Path

import trio

from cloacinactl.workers import ModuleSource, TaskRequest, WorkerPool


async def test_sync_task_none_return_keeps_changes(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("add_one", {"n": 41}))
    assert result.ok, result.error
    assert result.output == {"n": 42}
    assert (result.execution_id, result.task_id, result.attempt) == ("exec-1", "add_one", 1)


async def test_dict_and_context_returns(pool: WorkerPool, request_for) -> None:
    as_dict = await pool.run_task(request_for("returns_dict", {"n": 4}))
    as_ctx = await pool.run_task(request_for("returns_context", {"n": 4}))
    assert as_dict.output == {"doubled": 8}
    assert as_ctx.output == {"n": 4, "via": "context"}


async def test_async_task_runs_to_completion(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("async_task", {"a": 1}))
    assert result.ok, result.error
    assert result.output == {"a": 1, "async": True}


async def test_handle_argument(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("with_handle", execution_id="e-9", attempt=3))
    assert result.output == {"seen": ["e-9", "with_handle", 3, "wf"]}


async def test_function_reference_with_qualname(pool: WorkerPool, request_for) -> None:
    by_qualname = await pool.run_task(request_for("nested", function="Nested.method"))
    by_module = await pool.run_task(request_for("x", function="wf_basic:returns_dict"))
    assert by_qualname.output == {"nested": True}
    assert by_module.output == {"doubled": 0}


async def test_output_is_captured_at_fd_level(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("noisy"))
    assert result.ok, result.error
    out = result.captured.stdout
    assert "hello from print\n" in out
    assert "raw fd write\n" in out
    assert "from a subprocess\n" in out
    assert result.captured.stderr == "to stderr\n"
    messages = [(r["level"], r["logger"], r["message"]) for r in result.captured.logs]
    assert all(
        (r["execution_id"], r["task_id"], r["attempt"]) == ("exec-1", "noisy", 1)
        for r in result.captured.logs
    )
    assert ("WARNING", "wf_basic", "a warning record") in messages
    assert ("INFO", "wf_basic", "an info record") in messages
    # Capture is per call: the next task starts empty.
    quiet = await pool.run_task(request_for("returns_dict"))
    assert (quiet.captured.stdout, quiet.captured.stderr, quiet.captured.logs) == ("", "", ())


async def test_raising_task_fails_with_reason(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("raises"))
    assert result.status == "failed" and result.error is not None
    assert result.error.kind == "exception"
    assert result.error.exc_type == "ValueError"
    assert "boom" in result.error.message
    assert result.error.traceback and "raise ValueError" in result.error.traceback


async def test_wrong_return_type_fails(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("wrong_type"))
    assert result.error is not None and result.error.kind == "bad_return"
    assert "returned int" in result.error.message


async def test_non_json_output_fails(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("not_json"))
    assert result.error is not None and result.error.kind == "not_json"
    assert "'when'" in result.error.message and "datetime" in result.error.message


async def test_sys_exit_is_an_exception_not_a_crash(pool: WorkerPool, request_for) -> None:
    before = {w["pid"] for w in pool.stats()["per_worker"]}
    result = await pool.run_task(request_for("exit_call"))
    assert result.error is not None and result.error.kind == "exception"
    assert result.error.exc_type == "SystemExit"
    assert result.pid in before and pool.stats()["restarts"] == 0


async def test_os_exit_fails_only_that_call(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("exits"))
    assert result.error is not None and result.error.kind == "crashed"
    assert result.error.exit_code == 7
    assert "exit 7" in result.error.message
    assert "about to exit" in result.captured.stdout
    after = await pool.run_task(request_for("add_one", {"n": 1}))
    assert after.output == {"n": 2}


async def test_abort_reports_the_signal(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("aborts"))
    assert result.error is not None and result.error.kind == "crashed"
    assert result.error.signal == 6
    assert "SIGABRT" in result.error.message


async def test_unknown_task_is_not_found(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("no_such_task"))
    assert result.error is not None and result.error.kind == "not_found"
    assert "no_such_task" in result.error.message


async def test_non_json_input_is_refused(pool: WorkerPool, request_for) -> None:
    import datetime

    for bad in ({"n": float("nan")}, {"when": datetime.date(2026, 1, 1)}):
        result = await pool.run_task(request_for("add_one", bad))
        assert result.error is not None and result.error.kind == "bad_input"
        assert "not JSON" in result.error.message


async def test_broken_module_fails_to_load(pool: WorkerPool, tmp_path: Path) -> None:
    (tmp_path / "wf_broken.py").write_text("print('importing')\nraise RuntimeError('bad import')\n")
    source = ModuleSource("wf_broken", (str(tmp_path),))
    loaded = await pool.load(source)
    assert not loaded.ok and loaded.error is not None
    assert loaded.error.kind == "load_failed"
    assert "bad import" in loaded.error.message
    assert "importing" in loaded.captured.stdout
    request = TaskRequest(source, "wf", "anything")
    result = await pool.run_task(request)
    assert result.error is not None and result.error.kind == "load_failed"


async def test_load_describes_the_source(pool: WorkerPool) -> None:
    source = ModuleSource("wf_basic", (str(Path(__file__).parent / "flows"),))
    first = await pool.load(source)
    assert first.ok and first.description is not None
    assert first.description["module"] == "wf_basic"
    assert first.description["file"].endswith("wf_basic.py")


async def test_calls_on_a_stopped_pool_raise(nursery: trio.Nursery, request_for) -> None:
    from cloacinactl.workers import PoolClosed

    pool = WorkerPool(size=1, service="cloacina-test", grace_s=1.0)
    await nursery.start(pool.serve)
    await pool.stop()
    try:
        await pool.run_task(request_for("add_one"))
    except PoolClosed as exc:
        assert "stopped" in str(exc)
    else:
        raise AssertionError("run_task on a stopped pool did not raise")


async def test_segfault_reports_sigsegv_and_keeps_output(pool: WorkerPool, request_for) -> None:
    result = await pool.run_task(request_for("segfaults"))
    assert result.error is not None and result.error.kind == "crashed"
    assert result.error.signal == 11 and "SIGSEGV" in result.error.message
    assert "before the crash" in result.captured.stdout
    assert (await pool.run_task(request_for("add_one", {"n": 0}))).output == {"n": 1}
