// Stand-in of PhotosUI for the Linux type-check (see Package.swift): the picked item, Sendable as in the SDK.
public struct PhotosPickerItem: Equatable, Hashable, Sendable {
    public func loadTransferable<T>(type: T.Type) async throws -> T? { nil }
}
