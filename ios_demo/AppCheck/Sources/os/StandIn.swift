// Stand-in of os for the Linux type-check (see Package.swift).
public func os_proc_available_memory() -> Int { 0 }
