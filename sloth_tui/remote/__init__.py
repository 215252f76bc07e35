"""The socket transport: protocol, server, connections, RemoteEngine (EngineAPI over it)."""
