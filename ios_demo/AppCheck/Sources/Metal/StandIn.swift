// Stand-in of Metal for the Linux type-check (see Package.swift).
public protocol MTLDevice: AnyObject {
    var name: String { get }
}

public func MTLCreateSystemDefaultDevice() -> (any MTLDevice)? { nil }
