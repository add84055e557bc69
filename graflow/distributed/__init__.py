"""Running a workflow's tasks on workers through Redis: the layer between ``worker`` and the adapters.

A producer uses this package to send work (a parallel group, or a whole workflow) to the workers; a worker uses it
to take that work and rebuild the context it runs in. It may import the adapters, core and the base modules, never
``worker``, ``cli`` or ``api``. Importing the package imports nothing else: each module needs the ``redis`` extra.

* :mod:`~graflow.distributed.submit`: ``submit_workflow`` and the :class:`~graflow.distributed.submit.WorkflowRun`
  handle (also importable from ``graflow.worker.submit``).
* :mod:`~graflow.distributed.redis_coordinator`: ``RedisCoordinator``, the parallel-group coordinator of the
  ``redis`` backend (also ``graflow.coordination.redis_coordinator``).
* :mod:`~graflow.distributed.queue`: ``DistributedTaskQueue``, upstream's queue API on the stream (also
  ``graflow.queue.distributed``); :mod:`~graflow.distributed.redis_queue`: the same queue as ``RedisTaskQueue``
  (also ``graflow.queue.redis``).
* :mod:`~graflow.distributed.streams`: ``RedisStreamQueue``, the Redis Streams queue with leases and dead letters.
* :mod:`~graflow.distributed.scripts`: every Lua script of the queue and the barrier.
* :mod:`~graflow.distributed.barrier`: the idempotent group barrier.
* :mod:`~graflow.distributed.graph_store`: content-addressed graph blobs (also ``graflow.coordination.graph_store``).
* :mod:`~graflow.distributed.records`: ``SerializedTaskRecord`` (also ``graflow.coordination.records``).
* :mod:`~graflow.distributed.context_factory`: the context a worker runs a record in (also
  ``graflow.worker.context_factory``).
* :mod:`~graflow.distributed.handler_registry`: task handlers published by the producer, read by the workers.
* :mod:`~graflow.distributed.fenced_channel`: the Redis channel whose writes are fenced by the task's lease.
"""
