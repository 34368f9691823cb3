"""Redis: key names, clients, the auto-pipelined runner, and the Lua scripts with
their typed call specs."""
