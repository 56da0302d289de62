"""exec into a running container: the client, the plan, the child that joins, the relay."""
