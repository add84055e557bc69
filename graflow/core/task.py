"""Executables: tasks, sequences and parallel groups, and the ``>>`` / ``<<`` / ``|`` operators.

A ``TaskWrapper`` is a graph node that calls a user function. ``a >> b`` adds an edge and returns a
``SequentialTask`` (never a node itself). ``a | b`` builds a ``ParallelGroup``, a node whose handler runs its
members; members stay independent nodes with no edges to the group.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from graflow.core.ambient import (
    active_execution_context,
    dsl_target,
    register_new,
    set_active_execution_context,
)
from graflow.core.hints import missing_parameter_error
from graflow.core.results import OutputRef
from graflow.core.signature import (
    _SIGNATURE_CACHE_SIZE,
    _analyse_signature,
    _frozen,
    _Signature,
    _signature_by_code,
    _validate_task_options,
    llm_param,
    run_coroutine,
)
from graflow.exceptions import DuplicateTaskError

if TYPE_CHECKING:
    from graflow.core.context import ExecutionContext
    from graflow.core.retry import RetryPolicy
    from graflow.core.task_context import TaskExecutionContext
    from graflow.core.workflow import WorkflowContext

P = ParamSpec("P")
R = TypeVar("R")

class _Missing:
    """The "no value" marker; a singleton that survives pickling (tasks travel in checkpoints and to workers)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __reduce__(self) -> tuple[Any, ...]:
        return (_Missing, ())

    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Missing()
_NO_KWARGS: dict[str, Any] = {}

class Executable:
    """Anything that can take part in ``>>`` and ``|``: a task, a sequence or a parallel group."""

    task_id: str
    handler_type: str = "direct"
    _pending_registration: bool = False
    _base_id: str | None = None  # set on iteration copies: the id of the task they iterate
    _fast: bool | None = None  # True once the engine found it a plain call with no arguments (function tasks only)
    _output_refs: tuple[OutputRef, ...] = ()  # bound keywords that are other tasks' outputs
    timeout: float | None = None  # seconds a handler that can stop the task lets it run (None: no limit)

    @property
    def outputs(self) -> OutputRef:
        """This task's result, to bind to another task's parameter: ``b(x=a.outputs["key"])`` (resolved when ``b``
        runs; ``a`` must be upstream of ``b``)."""
        return OutputRef(self.task_id)

    @property
    def leftmost(self) -> Executable:
        """The node a predecessor connects to."""
        return self

    @property
    def rightmost(self) -> Executable:
        """The node a successor connects from."""
        return self

    def _node_executables(self) -> list[Executable]:
        """The graph nodes this executable stands for (itself, or a sequence's tasks)."""
        return [self]

    def _register(self, wf: WorkflowContext) -> None:
        graph = wf.graph
        for node in self._node_executables():
            task_id = node.task_id
            if task_id not in graph:
                graph.add_node(node, task_id)
            elif node._pending_registration and graph.nodes[task_id].get("task") is not node:
                # G7: a different task under an id the graph already has would be dropped without a word
                raise DuplicateTaskError(task_id)
            node._pending_registration = False
            if isinstance(node, ParallelGroup):
                for member in node.tasks:
                    member._register(wf)

    def __rshift__(self, other: Executable) -> SequentialTask:
        if not isinstance(other, Executable):
            return NotImplemented
        wf = dsl_target()
        self._register(wf)
        other._register(wf)
        wf.graph.add_edge(self.rightmost.task_id, other.leftmost.task_id)
        return SequentialTask([*_flatten_seq(self), *_flatten_seq(other)], _connect=False)

    def __lshift__(self, other: Executable) -> SequentialTask:
        if not isinstance(other, Executable):
            return NotImplemented
        other >> self
        # ``c << b << a`` evaluates as (c << b) << a; the chain's "left" end must stay c so a connects to b.
        return SequentialTask([*_flatten_seq(other), *_flatten_seq(self)], _connect=False, _anchor_left=True)

    def __or__(self, other: Executable) -> ParallelGroup:
        if not isinstance(other, Executable):
            return NotImplemented
        if isinstance(other, ParallelGroup) and not isinstance(self, ParallelGroup) and other._is_free():
            other._insert_front(self)  # D5: x | (y | z) is one group of three, no extra edges
            return other
        return ParallelGroup._combine(self, other)

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run this executable."""
        raise NotImplementedError

    def set_execution_context(self, context: ExecutionContext | None) -> None:
        """Attach the running context (upstream compatibility)."""
        self._execution_context = context

    def get_execution_context(self) -> ExecutionContext | None:
        """The context last attached, if any."""
        return getattr(self, "_execution_context", None)

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_execution_context", None)
        return state


def _flatten_seq(ex: Executable) -> list[Executable]:
    return list(ex.tasks) if isinstance(ex, SequentialTask) else [ex]


class Task(Executable):
    """A placeholder node whose ``run()`` does nothing (used as a root or for unknown resumed ids)."""

    def __init__(self, task_id: str, register_to_context: bool = True) -> None:
        self.task_id = task_id
        self.handler_type = "direct"
        if register_to_context:
            register_new(self)

    @property
    def name(self) -> str:
        """The task name."""
        return self.task_id

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Do nothing."""
        return None

    def __repr__(self) -> str:
        return f"Task({self.task_id!r})"

    def __str__(self) -> str:
        return f"Task({self.task_id})"


class TaskWrapper(Executable, Generic[P, R]):
    """A task that calls a user function.

    Calling it (D7) depends only on the arguments: keyword arguments create a bound instance (``t(x=1)``,
    ``t(task_id="t1", x=1)``), no arguments run the task (``t.run()``), positional arguments call the function.
    """

    def __init__(
        self,
        task_id: str,
        func: Callable[P, R],
        inject_context: bool = False,
        inject_llm_client: bool = False,
        inject_llm_agent: str | None = None,
        register_to_context: bool = True,
        handler_type: str | None = None,
        resolve_keyword_args: bool = True,
        max_cycles: int | None = None,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        timeout: float | None = None,
    ) -> None:
        _validate_task_options(task_id, func, max_cycles, max_retries, retry_policy, timeout, handler_type)
        self.task_id = task_id
        self.func = func
        self.inject_context = inject_context
        self.inject_llm_client = inject_llm_client
        self.inject_llm_agent = inject_llm_agent
        self.handler_type = handler_type or "direct"
        self.resolve_keyword_args = resolve_keyword_args
        self.max_cycles = max_cycles
        self.retry_policy = retry_policy
        self.max_retries = retry_policy.max_retries if retry_policy is not None else max_retries
        self.timeout = timeout
        self._bound_kwargs: dict[str, Any] = _NO_KWARGS  # shared until bound: no dict per task
        self._iteration_data: Any = _MISSING
        self.__name__ = getattr(func, "__name__", task_id)
        self.__qualname__ = getattr(func, "__qualname__", self.__name__)
        self.__doc__ = getattr(func, "__doc__", None)
        self.__module__ = getattr(func, "__module__", __name__)
        self.__annotations__ = getattr(func, "__annotations__", _NO_KWARGS)
        self.__wrapped__ = func
        self._signature_cache: tuple[Any, ...] | None = None
        self._fast: bool | None = None  # engine fast path: a plain call with no arguments (decided on first run)
        self._is_async = inspect.iscoroutinefunction(func)  # `async def` tasks are awaited to completion
        if register_to_context:
            register_new(self)

    # -- identity ---------------------------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        """The function name: a bounded label for metrics and logs (never an instance or iteration id)."""
        return self.__name__

    def __repr__(self) -> str:
        return f"TaskWrapper({self.task_id!r})"

    # -- signature analysis (cached: computed once per wrapper, not per call) ---------------------------------------
    def _signature(self) -> _Signature:
        """(resolvable params [(name, has_default)], accepts **kwargs, accepts iteration data, all param names,
        the parameter iteration data binds to, resolvable params without it)."""
        cached = self._signature_cache
        if cached is None:
            flags = (self.inject_context, self.inject_llm_client, bool(self.inject_llm_agent))
            func = self.func
            code = getattr(func, "__code__", None)
            try:
                if code is not None and type(func).__name__ == "function":
                    # closures made in a loop share one code object: analyse it once, not once per closure
                    key = (code, func.__defaults__, _frozen(func.__kwdefaults__), _frozen(func.__annotations__))
                    cached = _signature_by_code.get((key, flags))
                    if cached is None:
                        cached = _analyse_signature.__wrapped__(func, *flags)
                        if len(_signature_by_code) < _SIGNATURE_CACHE_SIZE:
                            _signature_by_code[(key, flags)] = cached
                else:
                    cached = _analyse_signature(func, *flags)
            except TypeError:  # an unhashable callable or default: analyse without the cache
                cached = _analyse_signature.__wrapped__(func, *flags)
            self._signature_cache = cached
        return cached

    def _compute_fast(self) -> bool:
        """Whether the engine may call ``func()`` directly: nothing to inject, resolve, bind or pass."""
        fast = not (
            self._is_async
            or self.inject_context or self.inject_llm_client or self.inject_llm_agent or self._bound_kwargs
            or self._iteration_data is not _MISSING
            or (self.resolve_keyword_args and not _takes_no_named_parameters(self.func) and self._signature()[0])
        )
        self._fast = fast
        return fast

    def accepts_iteration_data(self) -> bool:
        """Whether an iteration of this task can receive ``data`` (D8)."""
        return self._signature()[2]

    # -- calling ----------------------------------------------------------------------------------------------------
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        # D7: decided by the arguments alone, wherever the call happens (inside a running task too).
        if args:
            return self.func(*args, **kwargs)
        if not kwargs:
            return self.run()
        return self._bind(kwargs)

    def _bind(self, kwargs: dict[str, Any]) -> TaskWrapper[P, R]:
        new_id = kwargs.pop("task_id", None) or f"{self.__name__}_{uuid.uuid4().hex[:8]}"
        clone = self._copy(new_id, register=True)
        clone._bound_kwargs = {**self._bound_kwargs, **kwargs}
        refs = tuple(v for v in clone._bound_kwargs.values() if isinstance(v, OutputRef))
        if refs:
            clone._output_refs = refs
        else:
            clone.__dict__.pop("_output_refs", None)
        return clone

    def _copy(self, task_id: str, *, register: bool) -> TaskWrapper[P, R]:
        """A wrapper of the same function and flags under ``task_id`` (iterations and bound instances)."""
        clone: TaskWrapper[P, R] = object.__new__(TaskWrapper)
        clone.__dict__.update(self.__dict__)
        clone.task_id = task_id
        clone._pending_registration = False
        clone._fast = None
        clone._iteration_data = _MISSING
        clone.__dict__.pop("_execution_context", None)
        if self._bound_kwargs:
            clone._bound_kwargs = dict(self._bound_kwargs)
        if register:
            register_new(clone)
        return clone

    def run(self, *args: Any, **kwargs: Any) -> Any:
        """Run the task with injection and keyword resolution.

        Inside a workflow run the engine calls this; outside one it builds a temporary one-node context.
        ``kwargs`` have the highest priority.
        """
        ctx = active_execution_context()
        if ctx is None:
            ctx = getattr(self, "_execution_context", None)
        if ctx is None or ctx.current_task_context is None:
            return self._run_standalone(args, kwargs)
        return self._invoke(ctx.current_task_context, args, kwargs)

    def _run_standalone(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        from graflow.core.context import ExecutionContext
        from graflow.core.graph import TaskGraph

        graph = TaskGraph()
        graph.add_node(self, self.task_id)
        ctx = ExecutionContext.create(graph, self.task_id)
        previous = set_active_execution_context(ctx)
        try:
            with ctx.executing_task(self) as tctx:
                return self._invoke(tctx, args, kwargs)
        finally:
            set_active_execution_context(previous)

    def resolve_inputs(self, tctx: TaskExecutionContext) -> dict[str, Any]:
        """An attempt's keyword arguments (D11, then bound keywords), for :meth:`call_with_inputs` elsewhere."""
        signature = self._signature_cache or self._signature()
        return self._keyword_arguments(tctx, signature[0] if self._iteration_data is _MISSING else signature[5])

    def call_with_inputs(self, tctx: TaskExecutionContext, inputs: dict[str, Any]) -> Any:
        """Call the function for one attempt with ``inputs`` as its resolved keyword arguments (no resolution)."""
        return self._invoke(tctx, inputs=inputs)

    def _invoke(  # noqa: C901 - measured hot path, see the docstring
        self, tctx: TaskExecutionContext, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
    ) -> Any:
        """Call the function for one attempt: resolve keywords (D11), inject, pass iteration data (D8).

        The one function of the core past the complexity limit (13 > 12), by measurement: every task that takes
        parameters runs through it, and each branch folded into a helper call or an unconditional ``update`` cost
        2-4 % more instructions per task (``benchmarks/engine_instructions.py``, workload ``keywords``).
        """
        signature = self._signature_cache or self._signature()
        data = self._iteration_data
        resolvable = signature[0] if data is _MISSING else signature[5]
        if inputs is not None:  # resolved already (a handler that runs the task in another process)
            call_kwargs = dict(inputs)
        elif resolvable and self.resolve_keyword_args and not self._bound_kwargs:  # the common case, one call
            ctx = tctx.execution_context
            call_kwargs, defaulted = ctx.results.resolve(resolvable, tctx.task_id, ctx.run.scheduler.triggers)
            if defaulted is not None:
                ctx.note_defaults_used(tctx.task_id, defaulted)
        elif resolvable or self._bound_kwargs:
            call_kwargs = self._keyword_arguments(tctx, resolvable)
        else:
            call_kwargs = {}
        if self.inject_llm_client or self.inject_llm_agent:
            self._inject_services(tctx, call_kwargs)
        if kwargs:  # explicit keywords win (run(**kwargs))
            call_kwargs.update(kwargs)
        func: Callable[..., Any] = self.func
        try:
            if self.inject_context:
                if data is not _MISSING and not args:
                    result = func(tctx, data, **call_kwargs)
                else:
                    result = func(tctx, *args, **call_kwargs)
            else:
                if data is not _MISSING and "data" not in call_kwargs:
                    call_kwargs["data"] = data
                result = func(*args, **call_kwargs)
        except TypeError as exc:
            clearer = None if args else missing_parameter_error(
                tctx.execution_context, resolvable, call_kwargs, exc)
            if clearer is None:
                raise
            raise clearer from exc
        if self._is_async:
            return run_coroutine(result)
        return result

    def _keyword_arguments(
        self, tctx: TaskExecutionContext, resolvable: tuple[tuple[str, bool], ...]
    ) -> dict[str, Any]:
        """Resolved parameters (D11), then the bound instance's keywords over them (output references looked up)."""
        if resolvable and self.resolve_keyword_args:
            call_kwargs = tctx.execution_context.resolve_keywords(self, resolvable, tctx)
        else:
            call_kwargs = {}
        if self._bound_kwargs:
            call_kwargs.update(self._bound_kwargs)
            if self._output_refs:
                results = tctx.execution_context.results
                for name, value in self._bound_kwargs.items():
                    if isinstance(value, OutputRef):
                        call_kwargs[name] = value.resolve(results)
        return call_kwargs

    def _inject_services(self, tctx: TaskExecutionContext, call_kwargs: dict[str, Any]) -> None:
        """D14: pass the run's LLM client and the named agent to the parameters the signature names."""
        params = list(inspect.signature(self.func).parameters.values())
        if self.inject_llm_client:
            call_kwargs[llm_param(params, "llm_client", "LLMClient", "llm")] = tctx.llm_client
        if self.inject_llm_agent:
            try:
                agent = tctx.get_llm_agent(self.inject_llm_agent)
            except KeyError:
                raise RuntimeError(
                    f"Task '{self.task_id}' requires LLMAgent '{self.inject_llm_agent}', which is not registered; "
                    f"register it with wf.register_llm_agent('{self.inject_llm_agent}', agent)"
                ) from None
            call_kwargs[llm_param(params, "llm_agent", "LLMAgent", "agent")] = agent

    def __reduce__(self) -> tuple[Any, ...]:
        # Compact: only the attributes that differ from what the rebuild derives from (task_id, func) travel. A
        # graph of many tasks is pickled per run and unpickled by every worker, so this is paid per task.
        state = self.__getstate__()
        state.pop("_signature_cache", None)
        task_id, func = state.pop("task_id"), state.pop("func")
        for name, value in _derived_attributes(task_id, func):
            if state.get(name, _MISSING) is value:
                del state[name]
        for name, value in _DEFAULT_ATTRIBUTES.items():
            if state.get(name, _MISSING) is value:
                del state[name]
        return (_restore_task_wrapper, (task_id, func, state or None))


# What a rebuilt TaskWrapper holds unless its pickled state says otherwise (the defaults of ``__init__``).
_DEFAULT_ATTRIBUTES: dict[str, Any] = {
    "inject_context": False,
    "inject_llm_client": False,
    "inject_llm_agent": None,
    "handler_type": "direct",
    "resolve_keyword_args": True,
    "max_cycles": None,
    "retry_policy": None,
    "max_retries": None,
    "timeout": None,
    "_bound_kwargs": _NO_KWARGS,
    "_iteration_data": _MISSING,
    "_signature_cache": None,
    "_fast": None,
    "_is_async": False,
}


def _derived_attributes(task_id: str, func: Callable[..., Any]) -> tuple[tuple[str, Any], ...]:
    name = getattr(func, "__name__", task_id)
    return (
        ("__name__", name),
        ("__qualname__", getattr(func, "__qualname__", name)),
        ("__doc__", getattr(func, "__doc__", None)),
        ("__module__", getattr(func, "__module__", __name__)),
        ("__annotations__", getattr(func, "__annotations__", _NO_KWARGS)),
        ("__wrapped__", func),
    )


def _restore_task_wrapper(
    task_id: str, func: Callable[..., Any], state: dict[str, Any] | None
) -> TaskWrapper[Any, Any]:
    """Rebuild a pickled TaskWrapper without running ``__init__`` (its options were checked when it was made)."""
    wrapper: TaskWrapper[Any, Any] = TaskWrapper.__new__(TaskWrapper)
    attributes = wrapper.__dict__
    attributes.update(_DEFAULT_ATTRIBUTES)
    attributes["task_id"], attributes["func"] = task_id, func
    attributes.update(_derived_attributes(task_id, func))
    if state:
        attributes.update(state)
    return wrapper


def _takes_no_named_parameters(func: Any) -> bool:
    """A plain function whose code declares no named parameters: keyword resolution has nothing to fill.

    Read from the code object, which is cheaper than the signature analysis; a function that carries its own
    ``__signature__`` or wraps another (``functools.wraps``) is left to the analysis, as ``inspect`` would follow it.
    """
    if type(func) is not _FUNCTION:
        return False
    code = func.__code__
    if code.co_argcount or code.co_kwonlyargcount:
        return False
    extra = func.__dict__
    return not extra or ("__wrapped__" not in extra and "__signature__" not in extra)


_FUNCTION = type(_takes_no_named_parameters)


def _rebuild_task_wrapper(task_id: str, func: Callable[..., Any]) -> TaskWrapper[Any, Any]:
    """Pickles made before the compact form: the full state is applied after this."""
    return TaskWrapper(task_id, func, register_to_context=False)


# The sequence and the group build on the classes above; importing them here keeps every 0.2 import path working.
from graflow.core.groups import ParallelGroup  # noqa: E402 - groups builds on the classes above
from graflow.core.sequence import SequentialTask, chain, parallel  # noqa: E402

__all__ = [
    "Executable",
    "ParallelGroup",
    "SequentialTask",
    "Task",
    "TaskWrapper",
    "active_execution_context",
    "chain",
    "parallel",
]
