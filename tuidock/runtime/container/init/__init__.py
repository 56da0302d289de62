"""What runs in a container's fresh process: namespaces, root filesystem, PID 1."""
