"""The engine: tasks, graphs, contexts, the run loop and its hooks. Standard library, networkx and cloudpickle only."""
